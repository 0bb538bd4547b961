// SamplerWorker's loop against the coordinator daemon in this process (the
// real services over the in-memory store and a fake clock) with a scripted
// backend: every shard sampled and stored once with its training size, a
// generation failure reported with its reason, a revoked lease stopping
// its generation, and a drain finishing the shard in hand.
#include "sampler_worker/sampler_worker.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/eval/fake_sandbox.h"
#include "tests/cluster/in_process_coordinator.h"
#include "tests/testing/subprocess.h"

namespace ssd {
namespace {

std::string ScriptedText(const std::string& problem, int64_t index) {
  return absl::StrCat("def solve():\n    return '", problem, "#", index, "'\n");
}

// Writes ScriptedText for each requested sample. A problem in `fail_on`
// fails the call; with `block`, generation waits (checking `cancel`) until
// released.
class ScriptedBackend : public GenerationBackend {
 public:
  absl::Status Use(const v1::WeightsRef& ref, const std::string& dir) override {
    absl::MutexLock lock(&mu_);
    used_dirs_.insert(dir);
    return absl::OkStatus();
  }
  absl::Status Generate(const std::vector<BackendRequest>& requests, bool,
                        const std::function<void(BackendSample)>& on_sample, const std::atomic<bool>* cancel) override {
    {
      absl::MutexLock lock(&mu_);
      ++calls_;
    }
    const std::set<std::string> fail_on = FailOn();
    for (const BackendRequest& r : requests) {
      if (fail_on.count(r.problem->id()) > 0) {
        return absl::InternalError(absl::StrCat("scripted failure on ", r.problem->id()));
      }
      for (int64_t i : r.sample_indices) {
        while (blocked_.load()) {
          if (cancel != nullptr && cancel->load()) {
            cancelled_.store(true);
            return absl::CancelledError("cancelled");
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (per_sample_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(per_sample_ms_.load()));
        BackendSample s;
        s.problem_id = r.problem->id();
        s.sample_index = i;
        s.text = ScriptedText(s.problem_id, i);
        s.num_tokens = 7;
        s.finish_reason = v1::FINISH_REASON_STOP;
        on_sample(std::move(s));
      }
    }
    return absl::OkStatus();
  }
  BackendStats stats() const override { return {}; }
  // Counts characters: what the tests check arrives in Sample.sft_tokens.
  absl::StatusOr<TrainingSize> SizeTrainingConversation(const v1::Problem&, absl::string_view text, int64_t,
                                                        bool) override {
    return TrainingSize{static_cast<int64_t>(text.size()), static_cast<int64_t>(text.size()) / 2};
  }

  void SetFailOn(std::set<std::string> problems) {
    absl::MutexLock lock(&mu_);
    fail_on_ = std::move(problems);
  }
  std::set<std::string> FailOn() {
    absl::MutexLock lock(&mu_);
    return fail_on_;
  }
  std::atomic<bool> blocked_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<int> per_sample_ms_{0};
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::set<std::string> used_dirs() {
    absl::MutexLock lock(&mu_);
    return used_dirs_;
  }

 private:
  absl::Mutex mu_;
  int calls_ = 0;
  std::set<std::string> used_dirs_;
  std::set<std::string> fail_on_;
};

class SamplerWorkerTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(coordinator_.Start().ok());
    client_ = coordinator_.Client();
    auto store = WeightsStore::Open(coordinator_.dir() + "/weights");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    if (worker_ != nullptr) worker_->Stop();
    if (run_.joinable()) run_.join();
  }
  void StartWorker() {
    SamplerWorkerOptions o;
    o.session.channel = coordinator_.Channel();
    o.session.registration.set_address("127.0.0.1:1");
    o.session.call_timeout_ms = 5000;
    o.drain_timeout_ms = 20000;
    worker_ = std::make_unique<SamplerWorker>(o, &backend_, store_.get(), &sandbox_);
    run_ = std::thread([this] { run_status_ = worker_->Run(); });
  }
  std::string Submit(int problems, int shard_size, int n, const std::string& extra = "") {
    auto r = client_->Submit(coordinator_.SamplingSpec(problems, shard_size, n, extra), coordinator_.dir());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job_id() : "";
  }
  bool WaitForState(const std::string& job, v1::JobState state, double timeout_s = 20) {
    return WaitUntil(
        [&] {
          auto j = client_->GetJob(job);
          return j.ok() && j->state() == state;
        },
        timeout_s);
  }
  std::vector<v1::Sample> Stored(const std::string& job) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ScanRequest req;
    req.set_job_id(job);
    req.set_round(1);
    auto reader = client_->replay_store()->Scan(&ctx, req);
    std::vector<v1::Sample> out;
    v1::ScanResponse page;
    while (reader->Read(&page)) {
      for (const auto& s : page.samples()) out.push_back(s.sample());
    }
    EXPECT_TRUE(reader->Finish().ok());
    return out;
  }

  InProcessCoordinator coordinator_;
  std::unique_ptr<ClusterClient> client_;
  std::unique_ptr<WeightsStore> store_;
  ScriptedBackend backend_;
  FakeSandbox sandbox_{[](const SandboxCommand&) { return absl::UnimplementedError("no eval in these tests"); }};
  std::unique_ptr<SamplerWorker> worker_;
  std::thread run_;
  absl::Status run_status_ = absl::UnknownError("still running");
};

TEST_F(SamplerWorkerTest, SamplesEveryShardOnceWithItsTrainingSizeAndTheRoundMovesOn) {
  const std::string job = Submit(6, 2, 3);
  StartWorker();
  // Sampling done, filtered, waiting for trainers.
  ASSERT_TRUE(WaitForState(job, v1::JOB_STATE_TRAINING)) << client_->GetJob(job)->DebugString();
  const std::vector<v1::Sample> stored = Stored(job);
  std::map<std::pair<std::string, int64_t>, int> seen;
  for (const v1::Sample& s : stored) {
    ++seen[{s.problem_id(), s.sample_index()}];
    EXPECT_EQ(s.text(), ScriptedText(s.problem_id(), s.sample_index()));
    EXPECT_EQ(s.finish_reason(), v1::FINISH_REASON_STOP);
    EXPECT_EQ(s.sft_tokens(), static_cast<int32_t>(s.text().size())) << "the training size goes with the sample";
  }
  EXPECT_EQ(seen.size(), 18u);
  for (const auto& [key, times] : seen) EXPECT_EQ(times, 1) << key.first << "#" << key.second;
  // The worker counts a shard once the coordinator has answered its report, and the
  // coordinator may move the job on before that answer arrives: wait for the count.
  EXPECT_TRUE(WaitUntil([&] { return worker_->stats().shards_done == 3; }, 10));
  const SamplerWorkerStats stats = worker_->stats();
  EXPECT_EQ(stats.shards_done, 3);
  EXPECT_EQ(stats.samples_appended, 18);
  EXPECT_EQ(stats.shards_failed, 0);
  // Round 1 samples with the base model of the job.
  EXPECT_EQ(backend_.used_dirs(), std::set<std::string>{coordinator_.dir() + "/model"});
}

TEST_F(SamplerWorkerTest, AGenerationFailureIsReportedWithItsReasonAndTheWorkerGoesOn) {
  backend_.SetFailOn({"p1"});
  const std::string bad = Submit(2, 2, 1, "max_shard_attempts: 1\n");
  StartWorker();
  ASSERT_TRUE(WaitForState(bad, v1::JOB_STATE_FAILED));
  EXPECT_NE(client_->GetJob(bad)->error().find("scripted failure on p1"), std::string::npos)
      << client_->GetJob(bad)->error();
  EXPECT_TRUE(WaitUntil([&] { return worker_->stats().shards_failed == 1; }, 10))
      << "the worker counts the failure after its report is answered";
  // The same worker takes the next job.
  backend_.SetFailOn({});
  const std::string good = Submit(2, 2, 1);
  EXPECT_TRUE(WaitForState(good, v1::JOB_STATE_TRAINING));
  EXPECT_EQ(Stored(good).size(), 2u);
}

TEST_F(SamplerWorkerTest, ARevokedLeaseStopsItsGenerationAndNothingIsReportedFailed) {
  backend_.blocked_ = true;
  const std::string job = Submit(2, 2, 1);
  StartWorker();
  ASSERT_TRUE(WaitUntil([&] { return backend_.calls() > 0; }, 10));
  ASSERT_TRUE(client_->Cancel(job, "sampler_worker_test").ok());
  EXPECT_TRUE(WaitUntil([&] { return backend_.cancelled_.load(); }, 10)) << "the generation went on";
  backend_.blocked_ = false;
  EXPECT_EQ(worker_->stats().shards_failed, 0);
  EXPECT_EQ(worker_->stats().shards_done, 0);
  EXPECT_TRUE(Stored(job).empty());
}

TEST_F(SamplerWorkerTest, DrainFinishesTheShardInHandThenDeregisters) {
  backend_.per_sample_ms_ = 200;
  const std::string job = Submit(4, 2, 2);
  StartWorker();
  ASSERT_TRUE(WaitUntil([&] { return backend_.calls() > 0; }, 10));
  worker_->Drain();
  run_.join();
  EXPECT_TRUE(run_status_.ok()) << run_status_;
  const SamplerWorkerStats stats = worker_->stats();
  EXPECT_EQ(stats.shards_done, 1) << "the shard in hand is finished, no other is taken";
  EXPECT_EQ(Stored(job).size(), 4u);
  auto workers = client_->ListWorkers(/*include_gone=*/true);
  ASSERT_TRUE(workers.ok());
  ASSERT_EQ(workers->workers_size(), 1);
  EXPECT_EQ(workers->workers(0).state(), v1::WORKER_STATE_LEFT);
}

}  // namespace
}  // namespace ssd
