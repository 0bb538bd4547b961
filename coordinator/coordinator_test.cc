// The coordinator's domain logic in one process, over the in-memory store
// and a fake clock: leases and their fencing, exactly-once samples, the
// state machine, training groups, recovery from the store, store failure.
#include "coordinator/coordinator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/storage/in_memory_kv_store.h"
#include "common/util/file_util.h"
#include "coordinator/job_spec.h"
#include "coordinator/records.pb.h"
#include "coordinator/store_schema.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

template <typename T, typename F>
absl::StatusOr<T> Sync(F&& f) {
  absl::Notification n;
  absl::StatusOr<T> out = absl::UnknownError("no reply");
  f([&](absl::StatusOr<T> r) {
    out = std::move(r);
    n.Notify();
  });
  n.WaitForNotification();
  return out;
}

v1::Sample MakeSample(const std::string& problem, int64_t index, const std::string& text = "", int round = 1) {
  v1::Sample s;
  s.set_problem_id(problem);
  s.set_sample_index(index);
  s.set_text(text.empty() ? absl::StrCat("def f():\n    return ", problem, index, "\n") : text);
  s.set_num_tokens(5);
  s.set_finish_reason(v1::FINISH_REASON_STOP);
  s.set_weights_version(round - 1);
  return s;
}

class CoordinatorTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string lines;
    for (int i = 0; i < 10; ++i)
      absl::StrAppend(
          &lines, nlohmann::json{{"id", absl::StrCat("p", i)}, {"prompt", absl::StrCat("prompt ", i)}}.dump(), "\n");
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/p.jsonl", lines).ok());
    options_.lease_ttl_ms = 1000;
    options_.heartbeat_interval_ms = 100;
    options_.worker_timeout_ms = 3000;
    options_.recovery_grace_ms = 2000;
    options_.tick_ms = 10000;  // the tests tick by hand
    Restart();
  }
  void TearDown() override { c_.reset(); }
  void Restart() {
    if (c_) c_->Shutdown();
    c_ = std::make_unique<Coordinator>(options_, &store_, &clock_, nullptr);
    ASSERT_TRUE(c_->Start().ok());
  }

  // The test job: 10 problems in shards of 4, two samples each. `top` adds
  // top-level fields (shard_size replaces the default), `sampling` adds
  // sampling fields.
  std::string Spec(const std::string& top = "", const std::string& sampling = "") {
    return absl::StrCat("model: /m\nproblems: p.jsonl\n",
                        top.find("shard_size") == std::string::npos ? "shard_size: 4\n" : "", top,
                        "sampling:\n  n: 2\n", sampling);
  }
  absl::StatusOr<std::string> Submit(const std::string& yaml) {
    v1::SubmitJobRequest req;
    req.set_spec_yaml(yaml);
    req.set_base_dir(dir_);
    auto r = Sync<v1::SubmitJobResponse>([&](auto done) { c_->SubmitJob(req, "test", done); });
    if (!r.ok()) return r.status();
    return r->job_id();
  }
  v1::WorkerCredentials Register(v1::WorkerRole role = v1::WORKER_ROLE_SAMPLER, const std::string& address = "h:1") {
    v1::RegisterWorkerRequest req;
    req.set_role(role);
    req.set_address(address);
    auto r = Sync<v1::RegisterWorkerResponse>([&](auto done) { c_->RegisterWorker(req, nullptr, "peer", done); });
    EXPECT_TRUE(r.ok()) << r.status();
    return r->credentials();
  }
  v1::AcquireWorkResponse Acquire(const v1::WorkerCredentials& id,
                                  const std::vector<std::pair<std::string, int>>& held = {}) {
    v1::AcquireWorkRequest req;
    for (const auto& [job, v] : held) {
      auto* w = req.add_weights_held();
      w->set_job_id(job);
      w->set_version(v);
    }
    auto r = Sync<v1::AcquireWorkResponse>([&](auto done) { c_->AcquireWork(id, req, done); });
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  }
  absl::Status Append(const v1::WorkerCredentials& id, const v1::LeaseRef& lease,
                      const std::vector<v1::Sample>& samples, AppendSession* session = nullptr) {
    AppendSession local;
    if (session == nullptr) session = &local;
    session->credentials = id;
    v1::AppendRequest msg;
    *msg.mutable_lease() = lease;
    for (const v1::Sample& s : samples) *msg.add_samples() = s;
    uint64_t seq = 0;
    absl::Status st = c_->AppendMessage(msg, session, &seq);
    absl::Notification n;
    c_->log().WhenDurable(seq, [&](const absl::Status&) { n.Notify(); });
    n.WaitForNotification();
    return st;
  }
  // Appends every missing sample of a shard lease and reports it done.
  absl::Status Complete(const v1::WorkerCredentials& id, const v1::ShardLease& lease) {
    std::vector<v1::Sample> all;
    for (const v1::ProblemTask& t : lease.tasks()) {
      for (int64_t i : t.sample_indices()) all.push_back(MakeSample(t.problem().id(), i));
    }
    if (absl::Status s = Append(id, lease.lease(), all); !s.ok()) return s;
    return Report(id, lease.lease(), [](v1::ReportWorkRequest* r) { r->mutable_shard_done(); });
  }
  absl::Status Report(const v1::WorkerCredentials& id, const v1::LeaseRef& lease,
                      const std::function<void(v1::ReportWorkRequest*)>& fill) {
    v1::ReportWorkRequest req;
    *req.mutable_lease() = lease;
    fill(&req);
    return Sync<v1::ReportWorkResponse>([&](auto done) { c_->ReportWork(id, req, done); }).status();
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::WorkerCredentials& id,
                                                  const std::vector<v1::LeaseRef>& leases) {
    v1::HeartbeatRequest req;
    for (const auto& l : leases) *req.add_leases() = l;
    return Sync<v1::HeartbeatResponse>([&](auto done) { c_->Heartbeat(id, req, done); });
  }
  v1::Job Job(const std::string& id) {
    auto j = Sync<v1::Job>([&](auto done) { c_->GetJob(id, done); });
    EXPECT_TRUE(j.ok()) << j.status();
    return *j;
  }
  std::map<std::pair<std::string, int64_t>, int> ScanAll(const std::string& job, int round, bool survivors = false,
                                                         int rank = 0, int world = 0) {
    std::map<std::pair<std::string, int64_t>, int> seen;
    v1::ScanRequest req;
    req.set_job_id(job);
    req.set_round(round);
    req.set_survivors_only(survivors);
    req.set_rank(rank);
    req.set_world(world);
    req.set_batch_size(3);
    ScanCursor cursor;
    while (!cursor.done) {
      auto page = c_->ScanPage(req, &cursor);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      for (const auto& s : page->samples()) ++seen[{s.sample().problem_id(), s.sample().sample_index()}];
    }
    return seen;
  }

  ScopedTempDir tmp_{"coordinator_test"};
  std::string dir_ = tmp_.path();
  InMemoryKvStore store_{CoordinatorTables()};
  FakeClock clock_;
  CoordinatorOptions options_;
  std::unique_ptr<Coordinator> c_;
};

TEST_F(CoordinatorTest, SubmittedJobIsSamplingWithOneShardPerShardSizeProblems) {
  auto id = Submit(Spec());
  ASSERT_TRUE(id.ok()) << id.status();
  const v1::Job j = Job(*id);
  EXPECT_EQ(j.state(), v1::JOB_STATE_SAMPLING);
  EXPECT_EQ(j.round(), 1);
  EXPECT_EQ(j.progress().shards_total(), 3);  // 10 problems / 4
  EXPECT_EQ(j.progress().samples_total(), 20);
}

TEST_F(CoordinatorTest, LeasesGoOutOnceAndCarryTheMissingIndicesAndTheJobSeed) {
  auto id = Submit(Spec("", "  seed: 42\n"));
  ASSERT_TRUE(id.ok());
  const v1::WorkerCredentials a = Register(), b = Register();
  std::set<int> shards;
  for (const auto& w : {a, a, b}) {
    const v1::AcquireWorkResponse r = Acquire(w);
    ASSERT_TRUE(r.has_shard()) << r.DebugString();
    EXPECT_TRUE(shards.insert(r.shard().lease().shard()).second);
    EXPECT_EQ(r.shard().lease().epoch(), 1);
    EXPECT_EQ(r.shard().seed(), 42u);
    EXPECT_EQ(r.shard().weights().version(), 0);
    EXPECT_EQ(r.shard().tasks(0).sample_indices_size(), 2);
  }
  EXPECT_TRUE(Acquire(b).has_idle());
}

TEST_F(CoordinatorTest, DuplicateAppendsAreAcknowledgedAndIgnored) {
  auto id = Submit(Spec());
  const v1::WorkerCredentials a = Register();
  const v1::ShardLease lease = Acquire(a).shard();
  AppendSession s1;
  ASSERT_TRUE(Append(a, lease.lease(), {MakeSample("p0", 0), MakeSample("p0", 1)}, &s1).ok());
  AppendSession s2;
  ASSERT_TRUE(Append(a, lease.lease(), {MakeSample("p0", 0), MakeSample("p1", 0), MakeSample("p1", 0)}, &s2).ok());
  EXPECT_EQ(s1.accepted, 2);
  EXPECT_EQ(s2.accepted, 1);
  EXPECT_EQ(s2.duplicates, 2);
  auto seen = ScanAll(*id, 1);
  EXPECT_EQ(seen.size(), 3u);
  for (const auto& [k, n] : seen) EXPECT_EQ(n, 1);
}

TEST_F(CoordinatorTest, AnExpiredLeaseIsReLeasedWithANewEpochAndTheOldOneIsFenced) {
  auto id = Submit(Spec("shard_size: 10\n"));
  const v1::WorkerCredentials a = Register(), b = Register();
  const v1::ShardLease first = Acquire(a).shard();
  ASSERT_TRUE(Append(a, first.lease(), {MakeSample("p0", 0)}).ok());
  EXPECT_TRUE(Acquire(b).has_idle());
  clock_.AdvanceMs(1500);  // past the TTL, within the worker timeout
  ASSERT_TRUE(Heartbeat(b, {}).ok());
  c_->TickForTest();
  const v1::AcquireWorkResponse second = Acquire(b);
  ASSERT_TRUE(second.has_shard());
  EXPECT_EQ(second.shard().lease().shard(), first.lease().shard());
  EXPECT_EQ(second.shard().lease().epoch(), 2);
  // Only what is missing is asked for again.
  EXPECT_EQ(second.shard().tasks(0).problem().id(), "p0");
  EXPECT_EQ(second.shard().tasks(0).sample_indices_size(), 1);
  EXPECT_EQ(second.shard().tasks(0).sample_indices(0), 1);
  // The paused first holder wakes up: everything it sends is refused.
  const absl::Status late = Append(a, first.lease(), {MakeSample("p1", 0)});
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(late.message().find("stale"), std::string::npos) << late;
  const absl::Status report = Report(a, first.lease(), [](auto* r) { r->mutable_shard_done(); });
  EXPECT_EQ(report.code(), absl::StatusCode::kFailedPrecondition);
  auto hb = Heartbeat(a, {first.lease()});
  ASSERT_TRUE(hb.ok());
  ASSERT_EQ(hb->revoked_size(), 1);
}

TEST_F(CoordinatorTest, AnotherWorkersLeaseIsPermissionDeniedForAppendReportAndRenewal) {
  ASSERT_TRUE(Submit(Spec()).ok());
  const v1::WorkerCredentials a = Register(), b = Register();
  const v1::ShardLease lease = Acquire(a).shard();
  EXPECT_EQ(Append(b, lease.lease(), {MakeSample("p0", 0)}).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Report(b, lease.lease(), [](auto* r) { r->mutable_shard_done(); }).code(),
            absl::StatusCode::kPermissionDenied);
  auto hb = Heartbeat(b, {lease.lease()});
  EXPECT_EQ(hb.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(hb.status().message().find("is held by"), std::string::npos);
  // A forged session is not the worker.
  v1::WorkerCredentials forged = a;
  forged.set_session("0000");
  EXPECT_EQ(Append(forged, lease.lease(), {MakeSample("p0", 0)}).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(CoordinatorTest, SamplesOutsideTheLeaseOrTheJobAreRefusedNamingTheSample) {
  auto id = Submit(Spec());
  const v1::WorkerCredentials a = Register();
  const v1::ShardLease lease = Acquire(a).shard();  // shard 0: p0..p3
  absl::Status outside = Append(a, lease.lease(), {MakeSample("p0", 0), MakeSample("p7", 0)});
  EXPECT_EQ(outside.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(outside.message().find("sample 1 (problem \"p7\" #0)"), std::string::npos) << outside;
  EXPECT_EQ(ScanAll(*id, 1).size(), 1u) << "the good sample before the bad one is kept";
  EXPECT_EQ(Append(a, lease.lease(), {MakeSample("nope", 0)}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Append(a, lease.lease(), {MakeSample("p1", 2)}).code(), absl::StatusCode::kInvalidArgument);
  v1::Sample bad_reason = MakeSample("p1", 0);
  bad_reason.set_finish_reason(v1::FINISH_REASON_UNSPECIFIED);
  EXPECT_EQ(Append(a, lease.lease(), {bad_reason}).code(), absl::StatusCode::kInvalidArgument);
  v1::LeaseRef unknown = lease.lease();
  unknown.set_job_id("job-999999");
  EXPECT_EQ(Append(a, unknown, {MakeSample("p0", 1)}).code(), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, DoneWithMissingSamplesIsRefusedAndTheShardStaysLeased) {
  ASSERT_TRUE(Submit(Spec()).ok());
  const v1::WorkerCredentials a = Register();
  const v1::ShardLease lease = Acquire(a).shard();
  ASSERT_TRUE(Append(a, lease.lease(), {MakeSample("p0", 0)}).ok());
  const absl::Status s = Report(a, lease.lease(), [](auto* r) { r->mutable_shard_done(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("misses 7 sample(s)"), std::string::npos) << s;
  EXPECT_TRUE(Complete(a, Acquire(a, {}).has_shard() ? lease : lease).ok());
}

TEST_F(CoordinatorTest, AShardThatFailsMaxAttemptsTimesFailsTheJobWithEveryReason) {
  auto id = Submit(Spec("max_shard_attempts: 2\n"));
  const v1::WorkerCredentials a = Register();
  for (int i = 0; i < 2; ++i) {
    const v1::ShardLease lease = Acquire(a).shard();
    ASSERT_EQ(lease.lease().shard(), 0);
    ASSERT_TRUE(
        Report(a, lease.lease(), [i](auto* r) { r->mutable_failed()->set_reason(absl::StrCat("oom ", i)); }).ok());
  }
  const v1::Job j = Job(*id);
  EXPECT_EQ(j.state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(j.error().find("SAMPLE shard 0 of round 1 failed 2 times"), std::string::npos) << j.error();
  EXPECT_NE(j.error().find("oom 0"), std::string::npos);
  EXPECT_NE(j.error().find("oom 1"), std::string::npos);
}

TEST_F(CoordinatorTest, CompleteRoundIsFilteredGloballyAndTrainersScanDisjointPartitions) {
  auto id = Submit(Spec("filter:\n  drop_shortest_percent: 25\n"));
  const v1::WorkerCredentials a = Register();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Complete(a, Acquire(a).shard()).ok());
  const v1::Job j = Job(*id);
  ASSERT_EQ(j.state(), v1::JOB_STATE_TRAINING);
  ASSERT_EQ(j.rounds_size(), 1);
  EXPECT_EQ(j.rounds(0).filter().total(), 20);
  EXPECT_EQ(j.rounds(0).filter().dropped_short(), 5);
  EXPECT_EQ(j.rounds(0).filter().survivors(), 15);
  auto survivors = ScanAll(*id, 1, true);
  EXPECT_EQ(survivors.size(), 15u);
  auto r0 = ScanAll(*id, 1, true, 0, 2), r1 = ScanAll(*id, 1, true, 1, 2);
  EXPECT_EQ(r0.size() + r1.size(), 15u);
  for (const auto& [k, n] : r0) EXPECT_EQ(r1.count(k), 0u);
}

TEST_F(CoordinatorTest, TrainersReadEverySurvivorsSizeThenTheTextOfOnlyTheOnesTheySelect) {
  auto id = Submit(Spec("filter:\n  drop_shortest_percent: 25\n"));
  const v1::WorkerCredentials a = Register();
  for (int k = 0; k < 3; ++k) {
    const v1::ShardLease lease = Acquire(a).shard();
    EXPECT_EQ(lease.sft_max_seq_len(), 2048) << "sample leases carry the job's train.max_seq_len";
    std::vector<v1::Sample> all;
    for (const v1::ProblemTask& t : lease.tasks()) {
      for (int64_t i : t.sample_indices()) {
        v1::Sample x = MakeSample(t.problem().id(), i);
        x.set_sft_tokens(static_cast<int32_t>(20 + t.problem().id().size() + i));
        x.set_sft_loss_tokens(7);
        all.push_back(x);
      }
    }
    ASSERT_TRUE(Append(a, lease.lease(), all).ok());
    ASSERT_TRUE(Report(a, lease.lease(), [](v1::ReportWorkRequest* r) { r->mutable_shard_done(); }).ok());
  }
  ASSERT_EQ(Job(*id).state(), v1::JOB_STATE_TRAINING);
  auto scan = [&](const std::function<void(v1::ScanRequest*)>& shape) {
    v1::ScanRequest req;
    req.set_job_id(*id);
    req.set_round(1);
    req.set_survivors_only(true);
    req.set_batch_size(2);
    shape(&req);
    std::vector<v1::ScannedSample> out;
    ScanCursor cursor;
    while (!cursor.done) {
      auto page = c_->ScanPage(req, &cursor);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      for (const auto& x : page->samples()) out.push_back(x);
    }
    return out;
  };
  const auto sizes = scan([](v1::ScanRequest* r) { r->set_sizes_only(true); });
  ASSERT_EQ(sizes.size(), 15u);
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(sizes[i].ordinal(), static_cast<int64_t>(i));
    EXPECT_TRUE(sizes[i].sample().text().empty()) << "sizes only: no text";
    EXPECT_FALSE(sizes[i].has_problem());
    EXPECT_EQ(sizes[i].sample().sft_loss_tokens(), 7);
    EXPECT_EQ(sizes[i].sample().sft_tokens(),
              static_cast<int32_t>(20 + sizes[i].sample().problem_id().size() + sizes[i].sample().sample_index()));
  }
  const std::vector<int64_t> want = {1, 4, 9, 14};
  std::string bits(2, '\0');
  for (int64_t i : want) bits[static_cast<size_t>(i / 8)] |= static_cast<char>(1 << (i % 8));
  const auto picked = scan([&](v1::ScanRequest* r) { r->set_select(bits); });
  ASSERT_EQ(picked.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    const v1::ScannedSample& x = picked[k];
    EXPECT_EQ(x.ordinal(), want[k]);
    EXPECT_EQ(x.sample().problem_id(), sizes[static_cast<size_t>(want[k])].sample().problem_id());
    EXPECT_EQ(x.sample().sample_index(), sizes[static_cast<size_t>(want[k])].sample().sample_index());
    EXPECT_FALSE(x.sample().text().empty());
    EXPECT_EQ(x.problem().id(), x.sample().problem_id());
  }
  // A bitmap that ends early selects nothing past its end.
  EXPECT_EQ(scan([](v1::ScanRequest* r) { r->set_select(std::string("\x03", 1)); }).size(), 2u);

  v1::ScanRequest both;
  both.set_job_id(*id);
  both.set_round(1);
  both.set_world(2);
  both.set_select(bits);
  ScanCursor cursor;
  auto refused = c_->ScanPage(both, &cursor);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("select"), std::string::npos) << refused.status();
}

TEST_F(CoordinatorTest, SamplesWithImpossibleTrainingSizesAreRefusedNamingThem) {
  ASSERT_TRUE(Submit(Spec("train:\n  max_seq_len: 64\n  micro_batch_tokens: 64\n  batch_tokens: 64\n")).ok());
  const v1::WorkerCredentials a = Register();
  const v1::ShardLease lease = Acquire(a).shard();
  ASSERT_EQ(lease.sft_max_seq_len(), 64);
  struct Case {
    int32_t tokens, loss;
  } bad[] = {{10, 10}, {65, 3}, {-1, 0}, {0, 2}, {10, -1}};
  for (const Case& c : bad) {
    v1::Sample x = MakeSample("p0", 0);
    x.set_sft_tokens(c.tokens);
    x.set_sft_loss_tokens(c.loss);
    const absl::Status s = Append(a, lease.lease(), {x});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.tokens << "/" << c.loss;
    EXPECT_NE(s.message().find("sample 0 (problem \"p0\" #0): sft_tokens"), std::string::npos) << s;
  }
  v1::Sample fine = MakeSample("p0", 0);
  fine.set_sft_tokens(64);
  fine.set_sft_loss_tokens(0);  // the cut left nothing to train on: allowed
  EXPECT_TRUE(Append(a, lease.lease(), {fine}).ok());
}

TEST_F(CoordinatorTest, RestartFromTheStoreKeepsJobsLeasesSamplesAndWorkerIdentities) {
  auto id = Submit(Spec());
  const v1::WorkerCredentials a = Register();
  const v1::ShardLease lease = Acquire(a).shard();
  ASSERT_TRUE(Append(a, lease.lease(), {MakeSample("p0", 0), MakeSample("p0", 1)}).ok());
  Restart();
  EXPECT_EQ(Job(*id).state(), v1::JOB_STATE_SAMPLING);
  EXPECT_EQ(ScanAll(*id, 1).size(), 2u);
  // The worker carries on under the same lease with its old session.
  auto hb = Heartbeat(a, {lease.lease()});
  ASSERT_TRUE(hb.ok()) << hb.status();
  EXPECT_EQ(hb->revoked_size(), 0);
  EXPECT_EQ(hb->renewed_size(), 1);
  AppendSession s;
  ASSERT_TRUE(Append(a, lease.lease(), {MakeSample("p0", 1), MakeSample("p1", 0)}, &s).ok());
  EXPECT_EQ(s.duplicates, 1);
  EXPECT_EQ(s.accepted, 1);
}

TEST_F(CoordinatorTest, AfterARestartLeasesGetTheGracePeriodThenExpire) {
  ASSERT_TRUE(Submit(Spec()).ok());
  const v1::WorkerCredentials a = Register();
  const v1::ShardLease lease = Acquire(a).shard();
  Restart();
  clock_.AdvanceMs(1500);  // past the TTL but inside the grace
  c_->TickForTest();
  const v1::WorkerCredentials b = Register();
  EXPECT_NE(Acquire(b).shard().lease().shard(), lease.lease().shard());
  clock_.AdvanceMs(1000);  // past the grace
  ASSERT_TRUE(Heartbeat(b, {}).ok());
  c_->TickForTest();
  const v1::AcquireWorkResponse again = Acquire(b);
  ASSERT_TRUE(again.has_shard());
  EXPECT_EQ(again.shard().lease().shard(), lease.lease().shard());
  EXPECT_EQ(again.shard().lease().epoch(), 2);
}

TEST_F(CoordinatorTest, ADeadWorkersLeasesReturnAtOnceAndAGracefulLeaveCostsNoAttempt) {
  auto id = Submit(Spec("max_shard_attempts: 1\n"));
  const v1::WorkerCredentials a = Register(), b = Register();
  const v1::ShardLease la = Acquire(a).shard();
  auto left = Sync<v1::DeregisterResponse>([&](auto done) { c_->Deregister(a, done); });
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->leases_returned(), 1);
  const v1::ShardLease lb = Acquire(b).shard();
  EXPECT_EQ(lb.lease().shard(), la.lease().shard());
  EXPECT_EQ(Job(*id).state(), v1::JOB_STATE_SAMPLING) << "leaving on purpose is not a failure";
  clock_.AdvanceMs(3500);  // b stops heartbeating: dead, and with one attempt allowed the job fails
  c_->TickForTest();
  EXPECT_EQ(Job(*id).state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(Job(*id).error().find("stopped heartbeating"), std::string::npos) << Job(*id).error();
}

TEST_F(CoordinatorTest, AHeartbeatsUnhealthyReasonShowsInListWorkersUntilTheWorkerAsksForWorkAgain) {
  const v1::WorkerCredentials a = Register();
  auto workers = [&] {
    v1::ListWorkersRequest req;
    auto r = Sync<v1::ListWorkersResponse>([&](auto done) { c_->ListWorkers(req, done); });
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  };
  v1::HeartbeatRequest hb;
  hb.set_unhealthy("the backend server https://127.0.0.1:9/v1 is down: Connection");
  ASSERT_TRUE(Sync<v1::HeartbeatResponse>([&](auto done) { c_->Heartbeat(a, hb, done); }).ok());
  ASSERT_EQ(workers().workers_size(), 1);
  EXPECT_EQ(workers().workers(0).unhealthy(), hb.unhealthy());
  hb.set_unhealthy(std::string(5000, 'x'));
  ASSERT_TRUE(Sync<v1::HeartbeatResponse>([&](auto done) { c_->Heartbeat(a, hb, done); }).ok());
  EXPECT_EQ(workers().workers(0).unhealthy().size(), 1000u) << "kept to 1,000 bytes";
  Acquire(a);
  EXPECT_EQ(workers().workers(0).unhealthy(), "") << "a worker that asks for work takes work";
}

TEST_F(CoordinatorTest, CancelRevokesEveryLeaseAndRefusesFurtherSamples) {
  auto id = Submit(Spec());
  const v1::WorkerCredentials a = Register();
  const v1::ShardLease lease = Acquire(a).shard();
  v1::CancelJobRequest req;
  req.set_job_id(*id);
  auto j = Sync<v1::Job>([&](auto done) { c_->CancelJob(req, done); });
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->state(), v1::JOB_STATE_CANCELLED);
  auto hb = Heartbeat(a, {lease.lease()});
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(hb->revoked_size(), 1);
  EXPECT_EQ(Append(a, lease.lease(), {MakeSample("p0", 0)}).code(), absl::StatusCode::kFailedPrecondition);
  auto again = Sync<v1::Job>([&](auto done) { c_->CancelJob(req, done); });
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CoordinatorTest, TrainingGroupFormsOnlyWhenEnoughTrainersAreIdleAndGivesRanksAndRendezvous) {
  auto id =
      Submit(Spec("train:\n  trainers: 2\n  max_seq_len: 512\n  micro_batch_tokens: 1024\n  batch_tokens: 2048\n"));
  const v1::WorkerCredentials s = Register();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Complete(s, Acquire(s).shard()).ok());
  ASSERT_EQ(Job(*id).state(), v1::JOB_STATE_TRAINING);
  const v1::WorkerCredentials t1 = Register(v1::WORKER_ROLE_TRAINER, "10.0.0.5:7000");
  const v1::AcquireWorkResponse alone = Acquire(t1);
  ASSERT_TRUE(alone.has_idle());
  EXPECT_NE(alone.idle().reason().find("trains on 2 trainers; 1 are idle"), std::string::npos) << alone.DebugString();
  const v1::WorkerCredentials t2 = Register(v1::WORKER_ROLE_TRAINER, "10.0.0.6:7000");
  const v1::AcquireWorkResponse g = Acquire(t2);
  ASSERT_TRUE(g.has_training()) << g.DebugString();
  EXPECT_EQ(g.training().rank(), 0);
  EXPECT_EQ(g.training().world_size(), 2);
  EXPECT_EQ(g.training().master_addr(), "10.0.0.6");
  EXPECT_EQ(g.training().start_model(), "/m");
  const v1::AcquireWorkResponse g1 = Acquire(t1);
  ASSERT_TRUE(g1.has_training());
  EXPECT_EQ(g1.training().rank(), 1);
  EXPECT_EQ(g1.training().lease().epoch(), g.training().lease().epoch());
  // Rank 1 dies: the group is dissolved and formed again with a new epoch.
  clock_.AdvanceMs(3500);
  ASSERT_TRUE(Heartbeat(t2, {}).ok());
  c_->TickForTest();
  const v1::WorkerCredentials t3 = Register(v1::WORKER_ROLE_TRAINER, "10.0.0.7:7000");
  const v1::AcquireWorkResponse regroup = Acquire(t3);
  ASSERT_TRUE(regroup.has_training()) << regroup.DebugString();
  EXPECT_EQ(regroup.training().lease().epoch(), g.training().lease().epoch() + 1);
  EXPECT_EQ(Report(t1, g1.training().lease(), [](auto* r) { r->mutable_training_done()->set_steps(1); }).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(CoordinatorTest, AJobWaitingForTrainersShowsHowManyLiveTrainersAreRegistered) {
  auto id =
      Submit(Spec("train:\n  trainers: 2\n  max_seq_len: 512\n  micro_batch_tokens: 1024\n  batch_tokens: 2048\n"));
  const v1::WorkerCredentials s = Register();
  EXPECT_EQ(Job(*id).progress().trainers_registered(), 0) << "only counted in TRAINING";
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Complete(s, Acquire(s).shard()).ok());
  ASSERT_EQ(Job(*id).state(), v1::JOB_STATE_TRAINING);
  EXPECT_EQ(Job(*id).progress().trainers_registered(), 0);
  const v1::WorkerCredentials t1 = Register(v1::WORKER_ROLE_TRAINER, "10.0.0.5:7000");
  EXPECT_EQ(Job(*id).progress().trainers_registered(), 1) << "samplers do not count";
  ASSERT_TRUE(Acquire(t1).has_idle());
  // The trainer dies: it no longer counts.
  clock_.AdvanceMs(3500);
  ASSERT_TRUE(Heartbeat(s, {}).ok());
  c_->TickForTest();
  EXPECT_EQ(Job(*id).progress().trainers_registered(), 0);
  EXPECT_EQ(Job(*id).state(), v1::JOB_STATE_TRAINING) << "a real cluster goes on waiting";
}

TEST_F(CoordinatorTest, RankHintsOrderTheTrainingGroupWhoeverAsksFirst) {
  auto id =
      Submit(Spec("train:\n  trainers: 2\n  max_seq_len: 512\n  micro_batch_tokens: 1024\n  batch_tokens: 2048\n"));
  const v1::WorkerCredentials s = Register();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Complete(s, Acquire(s).shard()).ok());
  ASSERT_EQ(Job(*id).state(), v1::JOB_STATE_TRAINING);
  auto trainer = [&](std::optional<int> hint, const std::string& address) -> absl::StatusOr<v1::WorkerCredentials> {
    v1::RegisterWorkerRequest req;
    req.set_role(v1::WORKER_ROLE_TRAINER);
    req.set_address(address);
    if (hint) req.mutable_capabilities()->set_rank_hint(*hint);
    auto r = Sync<v1::RegisterWorkerResponse>([&](auto done) { c_->RegisterWorker(req, nullptr, "peer", done); });
    if (!r.ok()) return r.status();
    return r->credentials();
  };
  auto bad = trainer(-1, "10.0.0.9:7000");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("capabilities.rank_hint"), std::string::npos) << bad.status();

  // An unhinted trainer asks last of three: the hinted two form the group.
  const v1::WorkerCredentials t1 = trainer(1, "10.0.0.5:7000").value();
  const v1::WorkerCredentials t0 = trainer(0, "10.0.0.6:7000").value();
  const v1::WorkerCredentials loose = trainer(std::nullopt, "10.0.0.7:7000").value();
  const v1::AcquireWorkResponse l = Acquire(loose);
  ASSERT_TRUE(l.has_idle()) << l.DebugString();
  EXPECT_NE(l.idle().reason().find("from lower rank hints"), std::string::npos) << l.DebugString();
  // Hint 1 asks first and is still rank 1; rank 0 (hint 0) hosts the rendezvous.
  const v1::AcquireWorkResponse g1 = Acquire(t1);
  ASSERT_TRUE(g1.has_training()) << g1.DebugString();
  EXPECT_EQ(g1.training().rank(), 1);
  EXPECT_EQ(g1.training().world_size(), 2);
  EXPECT_EQ(g1.training().master_addr(), "10.0.0.6");
  const v1::AcquireWorkResponse g0 = Acquire(t0);
  ASSERT_TRUE(g0.has_training()) << g0.DebugString();
  EXPECT_EQ(g0.training().rank(), 0);
  EXPECT_EQ(g0.training().master_addr(), "10.0.0.6");
  EXPECT_EQ(g0.training().lease().epoch(), g1.training().lease().epoch());
}

TEST_F(CoordinatorTest, RoundTwoLeasesGoOnlyToSamplersHoldingRoundOnesWeights) {
  auto id = Submit(Spec("rounds: 2\n"));
  const v1::WorkerCredentials s = Register(), other = Register(v1::WORKER_ROLE_SAMPLER, "h:2");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Complete(s, Acquire(s).shard()).ok());
  const v1::WorkerCredentials t = Register(v1::WORKER_ROLE_TRAINER);
  const v1::AcquireWorkResponse train = Acquire(t);
  ASSERT_TRUE(train.has_training());
  ASSERT_TRUE(Report(t, train.training().lease(), [](auto* r) {
                r->mutable_training_done()->set_model_path("/out/round-1/model");
                r->mutable_training_done()->set_steps(3);
              }).ok());
  ASSERT_EQ(Job(*id).state(), v1::JOB_STATE_PUSHING);
  const v1::AcquireWorkResponse push = Acquire(t);
  ASSERT_TRUE(push.has_push());
  ASSERT_EQ(push.push().chain_size(), 2);
  ASSERT_TRUE(
      Report(t, push.push().lease(), [&](auto* r) { r->mutable_push_done()->add_reached(s.worker_id()); }).ok());
  ASSERT_EQ(Job(*id).state(), v1::JOB_STATE_SAMPLING);
  EXPECT_EQ(Job(*id).round(), 2);
  const v1::AcquireWorkResponse lacking = Acquire(other);
  ASSERT_TRUE(lacking.has_idle());
  EXPECT_EQ(lacking.idle().wanted().version(), 1);
  const v1::AcquireWorkResponse holding = Acquire(s, {{*id, 1}});
  ASSERT_TRUE(holding.has_shard());
  EXPECT_EQ(holding.shard().weights().version(), 1);
  EXPECT_EQ(holding.shard().seed(), 1u);  // job seed 0 + round 2 - 1
  const v1::AcquireWorkResponse hint = Acquire(other);
  ASSERT_TRUE(hint.has_idle());
  ASSERT_EQ(hint.idle().holders_size(), 1);
  EXPECT_EQ(hint.idle().holders(0).worker_id(), s.worker_id());
}

TEST_F(CoordinatorTest, AFailedStoreWriteTurnsTheCoordinatorUnhealthyAndNothingIsAcknowledged) {
  auto id = Submit(Spec());
  ASSERT_TRUE(id.ok());
  store_.FailNextApply(absl::ResourceExhaustedError("no space left on device"));
  const absl::StatusOr<std::string> second = Submit(Spec());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_FALSE(c_->Health().ok());
  EXPECT_NE(c_->Health().message().find("restart the coordinator"), std::string::npos);
  // A restart reloads what is on disk: the first job, not the second.
  Restart();
  EXPECT_TRUE(c_->Health().ok());
  EXPECT_EQ(Job(*id).state(), v1::JOB_STATE_SAMPLING);
  v1::ListJobsRequest all;
  auto jobs = Sync<v1::ListJobsResponse>([&](auto done) { c_->ListJobs(all, done); });
  EXPECT_EQ(jobs->jobs_size(), 1);
}

TEST_F(CoordinatorTest, ExportedRoundImportsAsANewJobThatExportsTheSameLines) {
  auto id = Submit(Spec("filter:\n  drop_shortest_percent: 0\n"));
  const v1::WorkerCredentials a = Register();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Complete(a, Acquire(a).shard()).ok());
  auto export_all = [&](const std::string& job) {
    v1::ExportRequest req;
    req.set_job_id(job);
    req.set_round(1);
    ScanCursor cursor;
    std::string out;
    while (!cursor.done) {
      auto chunk = c_->ExportPage(req, &cursor);
      EXPECT_TRUE(chunk.ok()) << chunk.status();
      if (!chunk.ok()) break;
      out += *chunk;
    }
    return out;
  };
  const std::string first = export_all(*id);
  ASSERT_EQ(std::count(first.begin(), first.end(), '\n'), 20);
  nlohmann::json line = nlohmann::json::parse(first.substr(0, first.find('\n')));
  ASSERT_EQ(line["messages"].size(), 2u);
  EXPECT_EQ(line["messages"][0]["role"], "user");
  EXPECT_EQ(line["messages"][1]["role"], "assistant");
  v1::ImportHeader h;
  h.set_spec_yaml("model: /m\nfilter:\n  drop_shortest_percent: 0\n");
  auto imported = Sync<v1::ImportResponse>([&](auto done) { c_->Import(h, first, done); });
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->samples(), 20);
  EXPECT_EQ(imported->problems(), 10);
  EXPECT_EQ(Job(imported->job_id()).state(), v1::JOB_STATE_TRAINING);
  EXPECT_EQ(export_all(imported->job_id()), first);
}

TEST_F(CoordinatorTest, BadImportLinesAreListedAndNothingIsCreated) {
  v1::ImportHeader h;
  h.set_spec_yaml("model: /m\n");
  h.set_source_name("train.jsonl");
  auto r = Sync<v1::ImportResponse>([&](auto done) {
    c_->Import(h, "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\nnot json\n", done);
  });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("train.jsonl:1: \"messages\" must be a prompt and its answer"), std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find("train.jsonl:2: not valid JSON at byte 1"), std::string::npos) << r.status();
  v1::ListJobsRequest all;
  EXPECT_EQ(Sync<v1::ListJobsResponse>([&](auto done) { c_->ListJobs(all, done); })->jobs_size(), 0);
}

TEST_F(CoordinatorTest, WatchSeesTheSnapshotThenEveryTransitionInOrder) {
  auto id = Submit(Spec());
  std::vector<v1::JobState> states;
  absl::Mutex mu;
  auto w = c_->Watch(*id, [&](const v1::Job& j) {
    absl::MutexLock l(&mu);
    if (states.empty() || states.back() != j.state()) states.push_back(j.state());
  });
  ASSERT_TRUE(w.ok());
  const v1::WorkerCredentials a = Register();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Complete(a, Acquire(a).shard()).ok());
  ASSERT_TRUE(c_->log().Flush().ok());
  c_->Unwatch(*w);
  absl::MutexLock l(&mu);
  EXPECT_EQ(states,
            (std::vector<v1::JobState>{v1::JOB_STATE_SAMPLING, v1::JOB_STATE_FILTERING, v1::JOB_STATE_TRAINING}));
  EXPECT_EQ(c_->Watch("job-404", nullptr).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, WatchersSeeALeaseWhenItIsGrantedNotOnlyWhenItEnds) {
  auto id = Submit(Spec());  // 3 sample shards
  absl::Mutex mu;
  std::vector<int64_t> leased;  // shards_leased of every snapshot a watcher got
  auto w = c_->Watch(*id, [&](const v1::Job& j) {
    absl::MutexLock l(&mu);
    leased.push_back(j.progress().shards_leased());
  });
  ASSERT_TRUE(w.ok());
  // Publishes run before the reply, so each call's snapshot is here when it returns.
  auto last = [&] {
    absl::MutexLock l(&mu);
    return leased.empty() ? int64_t{-1} : leased.back();
  };
  const v1::WorkerCredentials a = Register(), b = Register();
  const v1::ShardLease first = Acquire(a).shard();
  EXPECT_EQ(last(), 1);
  ASSERT_TRUE(Acquire(b).has_shard());
  EXPECT_EQ(last(), 2);
  ASSERT_TRUE(Complete(a, first).ok());
  EXPECT_EQ(last(), 1);
  // The worker that reported leases its next shard at once: a watcher must
  // not be left with the report's count.
  ASSERT_TRUE(Acquire(a).has_shard());
  EXPECT_EQ(last(), 2);
  c_->Unwatch(*w);
}

TEST_F(CoordinatorTest, ProblemFilesWithBadLinesAreRefusedWholeWithLineNumbers) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/bad.jsonl",
                                  "{\"id\": \"a\", \"prompt\": \"x\"}\n{\"id\": \"a\", \"prompt\": \"y\"}\n[1]\n"
                                  "{\"id\": \"b\"}\n")
                  .ok());
  auto r = Submit("model: /m\nproblems: bad.jsonl\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("bad.jsonl:2: duplicate id \"a\""), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("bad.jsonl:3: expected a JSON object, got an array"), std::string::npos);
  EXPECT_NE(r.status().message().find("bad.jsonl:4: needs \"prompt\""), std::string::npos);
  EXPECT_NE(Submit("model: /m\nproblems: missing.jsonl\n").status().message().find("problems:"), std::string::npos);
}

// ---- the job API: idempotent submits, paging, typed specs, the store's schema

absl::StatusOr<v1::SubmitJobResponse> SubmitRequest(Coordinator* c, const v1::SubmitJobRequest& req) {
  return Sync<v1::SubmitJobResponse>([&](auto done) { c->SubmitJob(req, "test", done); });
}

TEST_F(CoordinatorTest, ASubmitRetriedWithItsRequestIdReturnsTheFirstJobEvenAfterARestart) {
  v1::SubmitJobRequest req;
  req.set_spec_yaml(Spec());
  req.set_base_dir(dir_);
  req.set_request_id("retry-me");
  auto first = SubmitRequest(c_.get(), req);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->deduplicated());
  auto again = SubmitRequest(c_.get(), req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->deduplicated());
  EXPECT_EQ(again->job_id(), first->job_id());
  Restart();
  auto after_restart = SubmitRequest(c_.get(), req);
  ASSERT_TRUE(after_restart.ok()) << after_restart.status();
  EXPECT_TRUE(after_restart->deduplicated());
  EXPECT_EQ(after_restart->job_id(), first->job_id());
  EXPECT_EQ(after_restart->job().state(), v1::JOB_STATE_SAMPLING);
  auto all = Sync<v1::ListJobsResponse>([&](auto done) { c_->ListJobs(v1::ListJobsRequest(), done); });
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->jobs_size(), 1);
  // Another request under the same id is refused, naming the job it made.
  req.set_spec_yaml(Spec("rounds: 2\n"));
  auto other = SubmitRequest(c_.get(), req);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists) << other.status();
  EXPECT_NE(other.status().message().find("request_id retry-me made job " + first->job_id()), std::string::npos)
      << other.status();
  // Without an id, the same request makes a second job.
  req.set_spec_yaml(Spec());
  req.clear_request_id();
  auto plain = SubmitRequest(c_.get(), req);
  ASSERT_TRUE(plain.ok());
  EXPECT_NE(plain->job_id(), first->job_id());
}

TEST_F(CoordinatorTest, ARequestIdThatIsTooLongOrNotPrintableIsInvalidArgumentNamingIt) {
  v1::SubmitJobRequest req;
  req.set_spec_yaml(Spec());
  req.set_base_dir(dir_);
  for (const std::string& bad : {std::string(129, 'x'), std::string("with space"), std::string("tab\there")}) {
    req.set_request_id(bad);
    auto r = SubmitRequest(c_.get(), req);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StartsWith(r.status().message(), "request_id: ")) << r.status();
  }
  req.set_request_id(std::string(128, 'x'));
  EXPECT_TRUE(SubmitRequest(c_.get(), req).ok());
}

TEST_F(CoordinatorTest, ListJobsWalksTwoHundredFiftyJobsNewestFirstInPagesOfAHundred) {
  std::vector<std::string> submitted;
  for (int i = 0; i < 250; ++i) {
    auto id = Submit(Spec());
    ASSERT_TRUE(id.ok()) << id.status();
    submitted.push_back(*id);
  }
  std::vector<std::string> listed;
  std::vector<int> page_sizes;
  v1::ListJobsRequest req;  // page_size 0: the default, 100
  do {
    auto page = Sync<v1::ListJobsResponse>([&](auto done) { c_->ListJobs(req, done); });
    ASSERT_TRUE(page.ok()) << page.status();
    page_sizes.push_back(page->jobs_size());
    for (const v1::Job& j : page->jobs()) listed.push_back(j.id());
    req.set_page_token(page->next_page_token());
    ASSERT_LE(page_sizes.size(), 4u) << "the pages never end";
  } while (!req.page_token().empty());
  EXPECT_EQ(page_sizes, (std::vector<int>{100, 100, 50}));
  std::reverse(submitted.begin(), submitted.end());
  EXPECT_EQ(listed, submitted);
  // A state filter pages over the matching jobs only.
  auto cancel = Sync<v1::Job>([&](auto done) {
    v1::CancelJobRequest c;
    c.set_job_id(submitted[7]);
    c_->CancelJob(c, done);
  });
  ASSERT_TRUE(cancel.ok());
  v1::ListJobsRequest cancelled;
  cancelled.add_states(v1::JOB_STATE_CANCELLED);
  cancelled.set_page_size(1);
  auto one = Sync<v1::ListJobsResponse>([&](auto done) { c_->ListJobs(cancelled, done); });
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->jobs_size(), 1);
  EXPECT_EQ(one->jobs(0).id(), submitted[7]);
  EXPECT_EQ(one->next_page_token(), "") << "a token after the only cancelled job";
  // A page that ends exactly at the last match says so with an empty token.
  cancelled.clear_states();
  cancelled.set_page_size(250);
  auto whole = Sync<v1::ListJobsResponse>([&](auto done) { c_->ListJobs(cancelled, done); });
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->jobs_size(), 250);
  EXPECT_EQ(whole->next_page_token(), "");
}

TEST_F(CoordinatorTest, APageSizeOutOfRangeOrAPageTokenItDidNotIssueIsInvalidArgumentNamingTheField) {
  ASSERT_TRUE(Submit(Spec()).ok());
  struct Case {
    int32_t size;
    std::string token;
    std::string message;
  };
  for (const Case& c : {Case{-1, "", "page_size: must be in [0, 1000], got -1"},
                        Case{1001, "", "page_size: must be in [0, 1000], got 1001"},
                        Case{0, "opaque", "page_token: not a token this coordinator issued"},
                        Case{0, "after:", "page_token: not a token this coordinator issued"},
                        Case{0, "after:job-that-never-was", "page_token: names job job-that-never-was"}}) {
    v1::ListJobsRequest req;
    req.set_page_size(c.size);
    req.set_page_token(c.token);
    auto r = Sync<v1::ListJobsResponse>([&](auto done) { c_->ListJobs(req, done); });
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_TRUE(absl::StartsWith(r.status().message(), c.message)) << r.status();
  }
  v1::ListWorkersRequest w;
  w.set_page_size(5000);
  auto r = Sync<v1::ListWorkersResponse>([&](auto done) { c_->ListWorkers(w, done); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CoordinatorTest, ListWorkersPagesInWorkerIdOrder) {
  std::set<std::string> registered;
  for (int i = 0; i < 5; ++i) registered.insert(Register().worker_id());
  std::vector<std::string> listed;
  v1::ListWorkersRequest req;
  req.set_page_size(2);
  int pages = 0;
  do {
    auto page = Sync<v1::ListWorkersResponse>([&](auto done) { c_->ListWorkers(req, done); });
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    for (const auto& w : page->workers()) listed.push_back(w.worker_id());
    req.set_page_token(page->next_page_token());
  } while (!req.page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(listed, std::vector<std::string>(registered.begin(), registered.end()));
}

TEST_F(CoordinatorTest, AJobSpecSentWholeIsValidatedAndNeedsAbsolutePaths) {
  v1::SubmitJobRequest req;
  v1::JobSpec spec = DefaultJobSpec();
  spec.set_model("/m");
  spec.set_problems(dir_ + "/p.jsonl");
  spec.set_shard_size(5);
  *req.mutable_job_spec() = spec;
  auto ok = SubmitRequest(c_.get(), req);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->job().progress().shards_total(), 2);
  spec.mutable_sampling()->set_top_p(1.5);
  *req.mutable_job_spec() = spec;
  auto bad = SubmitRequest(c_.get(), req);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("sampling.top_p: must be in (0, 1], got 1.5"), std::string::npos)
      << bad.status();
  spec.mutable_sampling()->set_top_p(0.8);
  spec.set_problems("p.jsonl");
  *req.mutable_job_spec() = spec;
  auto relative = SubmitRequest(c_.get(), req);
  EXPECT_EQ(relative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(relative.status().message().find("problems: p.jsonl is relative"), std::string::npos) << relative.status();
  auto neither = SubmitRequest(c_.get(), v1::SubmitJobRequest());
  EXPECT_EQ(neither.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(neither.status().message(), "spec: set spec_yaml")) << neither.status();
}

TEST(CoordinatorSchemaTest, ANewStoreIsStampedWithTheSchemaVersionAndReopens) {
  InMemoryKvStore store(CoordinatorTables());
  FakeClock clock;
  {
    Coordinator c(CoordinatorOptions(), &store, &clock, nullptr);
    ASSERT_TRUE(c.Start().ok());
    c.Shutdown();
  }
  auto stamp = store.Get(kMeta, "schema");
  ASSERT_TRUE(stamp.ok() && stamp->has_value());
  internal::SchemaVersion v;
  ASSERT_TRUE(v.ParseFromString(**stamp));
  EXPECT_EQ(v.version(), kSchemaVersion);
  Coordinator again(CoordinatorOptions(), &store, &clock, nullptr);
  EXPECT_TRUE(again.Start().ok());
  again.Shutdown();
}

TEST(CoordinatorSchemaTest, AStoreOfAnotherSchemaVersionOrFromBeforeVersionsIsRefusedNamingTheVersion) {
  FakeClock clock;
  {
    InMemoryKvStore store(CoordinatorTables());
    internal::SchemaVersion v;
    v.set_version(kSchemaVersion + 1);
    WriteBatch b;
    b.Put(kMeta, "schema", v.SerializeAsString());
    ASSERT_TRUE(store.Apply(b, true).ok());
    Coordinator c(CoordinatorOptions(), &store, &clock, nullptr);
    const absl::Status s = c.Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(s.message().find(absl::StrCat("holds coordinator schema version ", kSchemaVersion + 1,
                                            "; this ssd reads version ", kSchemaVersion)),
              std::string::npos)
        << s;
  }
  {
    // What the ssd before schema stamps left: a job and no stamp.
    InMemoryKvStore store(CoordinatorTables());
    WriteBatch b;
    b.Put(kJobs, "job-1", "old bytes");
    ASSERT_TRUE(store.Apply(b, true).ok());
    Coordinator c(CoordinatorOptions(), &store, &clock, nullptr);
    const absl::Status s = c.Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(s.message().find("from before schema versions were recorded (coordinator schema version 1)"),
              std::string::npos)
        << s;
    // Nothing was written over it.
    auto stamp = store.Get(kMeta, "schema");
    ASSERT_TRUE(stamp.ok());
    EXPECT_FALSE(stamp->has_value());
  }
}

}  // namespace
}  // namespace ssd
