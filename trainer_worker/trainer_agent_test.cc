// TrainerAgent's loop against the coordinator daemon in this process (the
// real services over the in-memory store and a fake clock), with a stand-in
// for `ssd train`: a script that records what it was given and writes what
// the real one writes (metrics.jsonl lines, the model folder). The round's
// survivors reach the child as chat JSONL and its settings as the spec
// file; progress and the model come back to the job; a failed child fails
// the round with the tail of its log; a revoked lease stops the child.
#include "trainer_worker/trainer_agent.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/util/file_util.h"
#include "tests/cluster/in_process_coordinator.h"
#include "tests/testing/subprocess.h"
#include "trainer_worker/train_spec.h"

namespace ssd {
namespace {

class TrainerAgentTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(coordinator_.Start().ok());
    client_ = coordinator_.Client();
    record_ = coordinator_.dir() + "/record";
    ASSERT_TRUE(MakeDirs(record_).ok());
  }
  void TearDown() override {
    if (agent_ != nullptr) agent_->Drain();
    if (run_.joinable()) run_.join();
  }
  // The stand-in `ssd train`: copies its command line, data and spec into
  // record/, then runs `body` with $out set to its --out folder.
  std::string FakeTrain(const std::string& body) {
    const std::string path = coordinator_.dir() + "/fake-ssd";
    const std::string script = absl::StrCat(R"(#!/bin/bash
set -e
printf '%s\n' "$@" > )",
                                            record_, R"(/argv
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) out=$2; shift ;;
    --data) data=$2; shift ;;
    --spec) spec=$2; shift ;;
  esac
  shift
done
cp "$data" )",
                                            record_, R"(/data.jsonl
cp "$spec" )",
                                            record_, R"(/spec.json
echo $$ > )",
                                            record_, R"(/pid
)",
                                            body, "\n");
    EXPECT_TRUE(WriteFileAtomically(path, script).ok());
    chmod(path.c_str(), 0755);
    return path;
  }
  void StartAgent(const std::string& ssd_binary) {
    TrainerAgentOptions o;
    o.session.channel = coordinator_.Channel();
    o.session.call_timeout_ms = 5000;
    o.work_dir = coordinator_.dir() + "/trainer";
    o.ssd_binary = ssd_binary;
    o.progress_interval_ms = 0;
    agent_ = std::make_unique<TrainerAgent>(o);
    run_ = std::thread([this] { run_status_ = agent_->Run(); });
  }
  // A job sampled to its end by a stand-in sampler: it waits in TRAINING.
  std::string SampledJob(const std::string& extra = "") {
    auto r = client_->Submit(coordinator_.SamplingSpec(6, 3, 2, extra), coordinator_.dir());
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    auto sampled = coordinator_.SampleEverything(r->job_id());
    EXPECT_TRUE(sampled.ok()) << sampled.status();
    EXPECT_EQ(sampled.ok() ? *sampled : 0, 12);
    return r->job_id();
  }
  bool WaitForState(const std::string& job, v1::JobState state, double timeout_s = 20) {
    return WaitUntil(
        [&] {
          auto j = client_->GetJob(job);
          return j.ok() && j->state() == state;
        },
        timeout_s);
  }

  InProcessCoordinator coordinator_;
  std::unique_ptr<ClusterClient> client_;
  std::string record_;
  std::unique_ptr<TrainerAgent> agent_;
  std::thread run_;
  absl::Status run_status_ = absl::UnknownError("still running");
};

TEST_F(TrainerAgentTest, TrainsOnTheSurvivorsWithTheJobsSpecAndReportsProgressAndTheModel) {
  const std::string job = SampledJob("train:\n  lr: 3.0e-5\n  epochs: 2\n  max_seq_len: 512\n");
  StartAgent(FakeTrain(R"(mkdir -p "$out/model"
echo '{"step": 1, "total_steps": 2, "loss": 2.5, "tokens_per_s": 10}' >> "$out/metrics.jsonl"
sleep 0.5
echo '{"step": 2, "total_steps": 2, "loss": 1.25, "tokens_per_s": 12}' >> "$out/metrics.jsonl"
echo '{}' > "$out/model/config.json")"));
  ASSERT_TRUE(WaitForState(job, v1::JOB_STATE_SUCCEEDED)) << client_->GetJob(job)->DebugString();
  const v1::Job j = *client_->GetJob(job);
  ASSERT_EQ(j.rounds_size(), 1);
  EXPECT_EQ(j.rounds(0).train_steps(), 2);
  EXPECT_DOUBLE_EQ(j.rounds(0).final_loss(), 1.25);
  const std::string out = coordinator_.dir() + "/trainer/" + job + "/round-1";
  EXPECT_EQ(j.rounds(0).model_path(), out + "/model");
  // The child got every survivor, one chat line each.
  auto data = ReadFileToString(record_ + "/data.jsonl");
  ASSERT_TRUE(data.ok());
  const std::vector<std::string> lines = absl::StrSplit(absl::StripSuffix(*data, "\n"), '\n');
  EXPECT_EQ(static_cast<int64_t>(lines.size()), j.rounds(0).filter().survivors());
  EXPECT_GT(j.rounds(0).filter().survivors(), 0);
  for (const std::string& line : lines) EXPECT_NE(line.find("\"messages\""), std::string::npos) << line;
  // ... and the job's training settings as the spec file.
  auto spec = ReadTrainSpec(record_ + "/spec.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*spec, j.spec().train()))
      << spec->DebugString() << " vs " << j.spec().train().DebugString();
  EXPECT_DOUBLE_EQ(spec->lr(), 3.0e-5);
  auto argv = ReadFileToString(record_ + "/argv");
  ASSERT_TRUE(argv.ok());
  EXPECT_TRUE(absl::StartsWith(*argv, "train\n")) << *argv;
  EXPECT_NE(argv->find("--resume\n"), std::string::npos);
  EXPECT_NE(argv->find("--spec\n" + TrainSpecPath(out) + "\n"), std::string::npos) << *argv;
  const TrainerAgentStats stats = agent_->stats();
  EXPECT_EQ(stats.trainings_done, 1);
  EXPECT_EQ(stats.last_step, 2);
  EXPECT_DOUBLE_EQ(stats.last_loss, 1.25);
}

TEST_F(TrainerAgentTest, AFailedTrainFailsTheRoundWithTheTailOfItsLog) {
  const std::string job = SampledJob("max_shard_attempts: 1\n");
  StartAgent(FakeTrain(R"(echo "loading the model" >&2
echo "boom: out of memory" >&2
exit 3)"));
  ASSERT_TRUE(WaitForState(job, v1::JOB_STATE_FAILED));
  const std::string error = client_->GetJob(job)->error();
  EXPECT_NE(error.find("`ssd train` rank 0 exited with status 3"), std::string::npos) << error;
  EXPECT_NE(error.find("boom: out of memory"), std::string::npos) << error;
  EXPECT_EQ(agent_->stats().trainings_failed, 1);
}

TEST_F(TrainerAgentTest, ARevokedTrainingLeaseStopsTheChildAtOnce) {
  const std::string job = SampledJob();
  StartAgent(FakeTrain("sleep 600"));
  std::string pid_text;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto p = ReadFileToString(record_ + "/pid");
        if (p.ok()) pid_text = *p;
        return p.ok() && !p->empty();
      },
      20));
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(pid_text), &pid));
  ASSERT_EQ(kill(pid, 0), 0) << "the stand-in is running";
  ASSERT_TRUE(client_->Cancel(job, "trainer_agent_test").ok());
  EXPECT_TRUE(WaitUntil([&] { return kill(pid, 0) != 0; }, 10)) << "the child outlived its lease";
  EXPECT_EQ(agent_->stats().trainings_failed, 0);
  EXPECT_EQ(agent_->stats().trainings_done, 0);
}

}  // namespace
}  // namespace ssd
