#include "coordinator/scheduler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/storage/in_memory_kv_store.h"
#include "coordinator/store_schema.h"

namespace ssd {
namespace {

class SchedulerTest : public testing::Test {
 protected:
  SchedulerTest() { options_.max_leases_per_sampler = 2; }

  // A job in `state` at `round` with `problems` problems in shards of
  // `shard_size`, sampled `n` times each, trained on `trainers` trainers.
  JobEntry& AddJob(const std::string& id, v1::JobState state, int problems, int shard_size = 2, int round = 1,
                   int trainers = 2, int n = 1) {
    JobEntry& e = jobs_.try_emplace(id, [](const internal::ShardRecord&) {}).first->second;
    e.job.set_id(id);
    e.job.set_state(state);
    e.job.set_round(round);
    e.job.mutable_spec()->set_model("/models/base");
    e.job.mutable_spec()->mutable_sampling()->set_n(n);
    e.job.mutable_spec()->mutable_train()->set_trainers(trainers);
    for (int p = 0; p < problems; ++p) {
      v1::Problem pr;
      pr.set_id(absl::StrCat("p", p));
      e.problem_index[pr.id()] = static_cast<uint32_t>(e.problems.size());
      e.problems.push_back(pr);
    }
    if (state == v1::JOB_STATE_SAMPLING) e.leases.AddRange(id, round, v1::LEASE_KIND_SAMPLE, problems, shard_size);
    order_.push_back(id);
    return e;
  }
  WorkerEntry& AddWorker(const std::string& id, v1::WorkerRole role, const std::string& address = "") {
    v1::RegisterWorkerRequest r;
    r.set_role(role);
    r.set_address(address);
    return *workers_.Register(r, nullptr, "ipv4:10.1.1.1:99", [&](v1::WorkerRole) { return id; })->worker;
  }
  void AddTrainingShard(JobEntry& e) {
    internal::ShardRecord rec;
    rec.set_job_id(e.id());
    rec.set_round(e.job.round());
    rec.set_kind(v1::LEASE_KIND_TRAIN);
    rec.set_state(internal::SHARD_STATE_QUEUED);
    e.leases.Add(rec);
  }

  CoordinatorOptions options_;
  FakeClock clock_;
  InMemoryKvStore store_{CoordinatorTables()};
  std::map<std::string, JobEntry> jobs_;
  std::vector<std::string> order_;
  WorkerRegistry workers_{&clock_, [](const WorkerEntry&) {}};
  SampleStore samples_{options_, &store_, nullptr};
  int grants_ = 0;
  Scheduler scheduler_{
      options_, Scheduler::Parts{&jobs_, &order_, &workers_, &samples_, [this](JobEntry& e, Shard& s, WorkerEntry& w) {
                                   e.leases.Grant(s, w.id(), clock_.NowMs(), 30000);
                                   w.leases.insert({e.id(), s.id()});
                                   ++grants_;
                                 }}};
};

TEST_F(SchedulerTest, SamplersTakeOneShardOfEachRunningJobInTurn) {
  AddJob("job-1", v1::JOB_STATE_SAMPLING, 4);
  AddJob("job-2", v1::JOB_STATE_SAMPLING, 4);
  AddJob("job-3", v1::JOB_STATE_TRAINING, 4);
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i) {
    WorkerEntry& w = AddWorker(absl::StrCat("sampler-", i), v1::WORKER_ROLE_SAMPLER);
    std::vector<std::string> keys;
    v1::AcquireWorkResponse r = scheduler_.ForSampler(w, &keys);
    ASSERT_TRUE(r.has_shard()) << r.DebugString();
    got.push_back(absl::StrCat(r.shard().lease().job_id(), "/", r.shard().lease().shard()));
    EXPECT_EQ(r.shard().lease().epoch(), 1);
    EXPECT_EQ(r.shard().tasks_size(), 2);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"job-1/0", "job-2/0", "job-1/1", "job-2/1"}));
  WorkerEntry& late = AddWorker("sampler-9", v1::WORKER_ROLE_SAMPLER);
  std::vector<std::string> keys;
  v1::AcquireWorkResponse idle = scheduler_.ForSampler(late, &keys);
  ASSERT_TRUE(idle.has_idle());
  EXPECT_EQ(idle.idle().reason(), "every shard is leased or done");
}

TEST_F(SchedulerTest, ASamplerHoldsAtMostItsLeaseLimit) {
  AddJob("job-1", v1::JOB_STATE_SAMPLING, 10);
  WorkerEntry& w = AddWorker("sampler-1", v1::WORKER_ROLE_SAMPLER);
  std::vector<std::string> keys;
  EXPECT_TRUE(scheduler_.ForSampler(w, &keys).has_shard());
  EXPECT_TRUE(scheduler_.ForSampler(w, &keys).has_shard()) << "one to work on, one prefetched";
  v1::AcquireWorkResponse third = scheduler_.ForSampler(w, &keys);
  ASSERT_TRUE(third.has_idle());
  EXPECT_EQ(third.idle().reason(), "this sampler already holds 2 leases");
}

TEST_F(SchedulerTest, OnlyTheMissingSamplesOfAShardAreHandedOut) {
  JobEntry& e = AddJob("job-1", v1::JOB_STATE_SAMPLING, 2, /*shard_size=*/2, /*round=*/1, 2, /*n=*/3);
  SampleRound& r = samples_.Round(e, 1);
  SampleFeatures f;
  r.Add(0 * 3 + 1, f);                              // p0 #1 is stored
  for (int s = 0; s < 3; ++s) r.Add(1 * 3 + s, f);  // p1 is complete
  WorkerEntry& w = AddWorker("sampler-1", v1::WORKER_ROLE_SAMPLER);
  std::vector<std::string> keys;
  v1::AcquireWorkResponse resp = scheduler_.ForSampler(w, &keys);
  ASSERT_TRUE(resp.has_shard());
  ASSERT_EQ(resp.shard().tasks_size(), 1);
  EXPECT_EQ(resp.shard().tasks(0).problem().id(), "p0");
  EXPECT_EQ(std::vector<int64_t>(resp.shard().tasks(0).sample_indices().begin(),
                                 resp.shard().tasks(0).sample_indices().end()),
            (std::vector<int64_t>{0, 2}));
}

TEST_F(SchedulerTest, AShardNeedingWeightsTheSamplerLacksNamesWhoHoldsThem) {
  AddJob("job-1", v1::JOB_STATE_SAMPLING, 4, 2, /*round=*/2);
  WorkerEntry& holder = AddWorker("sampler-1", v1::WORKER_ROLE_SAMPLER, "h1:7");
  holder.held.insert({"job-1", 1});
  WorkerEntry& lacking = AddWorker("sampler-2", v1::WORKER_ROLE_SAMPLER, "h2:7");
  std::vector<std::string> keys;
  v1::AcquireWorkResponse r = scheduler_.ForSampler(lacking, &keys);
  ASSERT_TRUE(r.has_idle());
  EXPECT_EQ(r.idle().wanted().version(), 1);
  ASSERT_EQ(r.idle().holders_size(), 1);
  EXPECT_EQ(r.idle().holders(0).address(), "h1:7");
  EXPECT_EQ(grants_, 0);
  EXPECT_TRUE(scheduler_.ForSampler(holder, &keys).has_shard());
}

TEST_F(SchedulerTest, ATrainingGroupFormsOnlyWhenEnoughTrainersAreIdleRankedByTheirHints) {
  JobEntry& e = AddJob("job-1", v1::JOB_STATE_TRAINING, 4, 2, 1, /*trainers=*/2);
  AddTrainingShard(e);
  WorkerEntry& a = AddWorker("trainer-a", v1::WORKER_ROLE_TRAINER, "10.0.0.1:1");
  v1::AcquireWorkResponse alone = scheduler_.ForTrainer(a);
  ASSERT_TRUE(alone.has_idle());
  EXPECT_EQ(alone.idle().reason(), "job job-1 trains on 2 trainers; 1 are idle");
  WorkerEntry& b = AddWorker("trainer-b", v1::WORKER_ROLE_TRAINER, "10.0.0.2:1");
  b.rec.mutable_status()->mutable_capabilities()->set_rank_hint(0);
  b.rec.mutable_status()->mutable_capabilities()->set_rendezvous_port(29600);
  v1::AcquireWorkResponse r = scheduler_.ForTrainer(a);
  ASSERT_TRUE(r.has_training()) << r.DebugString();
  EXPECT_EQ(r.training().rank(), 1) << "the hinted worker is rank 0";
  EXPECT_EQ(r.training().world_size(), 2);
  EXPECT_EQ(r.training().master_addr(), "10.0.0.2");
  EXPECT_EQ(r.training().master_port(), 29600);
  v1::AcquireWorkResponse again = scheduler_.ForTrainer(b);
  ASSERT_TRUE(again.has_training()) << "a member's work is handed out again";
  EXPECT_EQ(again.training().rank(), 0);
}

TEST_F(SchedulerTest, ALaterJobDoesNotTakeTheTrainersTheFirstIsWaitingFor) {
  JobEntry& first = AddJob("job-1", v1::JOB_STATE_TRAINING, 4, 2, 1, /*trainers=*/2);
  first.job.set_state_since_unix_ms(100);
  AddTrainingShard(first);
  JobEntry& second = AddJob("job-2", v1::JOB_STATE_TRAINING, 4, 2, 1, /*trainers=*/1);
  second.job.set_state_since_unix_ms(200);
  AddTrainingShard(second);
  WorkerEntry& t = AddWorker("trainer-1", v1::WORKER_ROLE_TRAINER);
  v1::AcquireWorkResponse r = scheduler_.ForTrainer(t);
  ASSERT_TRUE(r.has_idle());
  EXPECT_EQ(r.idle().reason(), "job job-1 trains on 2 trainers; 1 are idle");
}

TEST_F(SchedulerTest, APushGoesToAMemberOfTheGroupAlongEveryLiveSampler) {
  JobEntry& e = AddJob("job-1", v1::JOB_STATE_TRAINING, 4, 2, 1, /*trainers=*/1);
  AddTrainingShard(e);
  WorkerEntry& member = AddWorker("trainer-1", v1::WORKER_ROLE_TRAINER);
  WorkerEntry& other = AddWorker("trainer-2", v1::WORKER_ROLE_TRAINER);
  ASSERT_TRUE(scheduler_.ForTrainer(member).has_training());
  Shard& train = *e.leases.Find({1, v1::LEASE_KIND_TRAIN, 0});
  e.leases.Complete(train);
  member.leases.clear();
  e.job.set_state(v1::JOB_STATE_PUSHING);
  e.job.add_rounds()->set_round(1);
  e.job.mutable_rounds(0)->set_model_path("/out/round-1/model");
  internal::ShardRecord push;
  push.set_job_id("job-1");
  push.set_round(1);
  push.set_kind(v1::LEASE_KIND_PUSH);
  push.set_state(internal::SHARD_STATE_QUEUED);
  e.leases.Add(push);
  v1::AcquireWorkResponse none = scheduler_.ForTrainer(member);
  ASSERT_TRUE(none.has_idle());
  EXPECT_EQ(none.idle().reason(), "job job-1 waits for a live sampler to push its weights to");
  AddWorker("sampler-1", v1::WORKER_ROLE_SAMPLER, "s1:7");
  AddWorker("sampler-2", v1::WORKER_ROLE_SAMPLER, "s2:7");
  EXPECT_TRUE(scheduler_.ForTrainer(other).has_idle()) << "the group's member pushes while it is alive";
  v1::AcquireWorkResponse p = scheduler_.ForTrainer(member);
  ASSERT_TRUE(p.has_push()) << p.DebugString();
  EXPECT_EQ(p.push().chain_size(), 2);
  EXPECT_EQ(p.push().model_dir(), "/out/round-1/model");
  EXPECT_EQ(p.push().weights().version(), 1);
}

}  // namespace
}  // namespace ssd
