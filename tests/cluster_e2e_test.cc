// SSD end to end across real processes on 127.0.0.1 (TLS, the token,
// ephemeral ports): `ssd coordinator`, `ssd sampler` (the native engine on a
// tiny model, the bubblewrap grader) and `ssd trainer` (`ssd train` over
// Gloo). Every fault test SIGKILLs a real process and checks that every
// sample is stored exactly once and the job ends where it should.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/model/safetensors.h"
#include "common/rpc/channel_builder.h"
#include "common/rpc/security.h"
#include "common/util/file_util.h"
#include "common/weights/weights_source.h"
#include "common/weights/weights_transport.h"
#include "nlohmann/json.hpp"
#include "tests/cluster/cluster_harness.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_model.h"

namespace ssd {
namespace {

using Json = nlohmann::json;

const std::vector<std::string> kTimeouts = {"--lease-ttl-ms",      "2000", "--heartbeat-interval-ms", "300",
                                            "--worker-timeout-ms", "3000", "--recovery-grace-ms",     "6000"};

std::string Fixture() { return SourceDir() + "/tests/fixtures/eval/lcb_mini.jsonl"; }

class ClusterE2ETest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_tmp_ = new ScopedTempDir("ssd_e2e_model");
    model_dir_ = new std::string(model_tmp_->Join("model"));
    const std::string err = MakeTinyModel(*model_dir_);
    ASSERT_EQ(err, "") << err;
  }
  static void TearDownTestSuite() {
    delete model_dir_;
    delete model_tmp_;
  }

  // The test job: the 5 fixture problems, 2 samples each.
  static std::string Spec(const std::string& out_dir, const std::string& extra, int rounds = 1, int max_tokens = 48,
                          int shard_size = 2) {
    return absl::StrCat("name: e2e\nmodel: ", *model_dir_, "\nproblems: ", Fixture(), "\noutput_dir: ", out_dir,
                        "\nrounds: ", rounds, "\nshard_size: ", shard_size, "\n",
                        "sampling:\n  n: 2\n  temperature: 1.5\n  top_k: 20\n  top_p: 0.8\n  max_tokens: ", max_tokens,
                        "\n  seed: 0\n", extra);
  }
  static std::string Train(int trainers, int epochs, int save_every = 0) {
    return absl::StrCat("train:\n  epochs: ", epochs, "\n  lr: 1.0e-3\n  warmup_steps: 0\n  max_seq_len: 1024\n",
                        "  micro_batch_tokens: 1024\n  batch_tokens: 2048\n  trainers: ", trainers,
                        "\n  save_every: ", save_every, "\n");
  }

  static ScannedSamples Scan(ClusterClient* c, const std::string& job, int round, bool survivors = false) {
    std::vector<std::string> twice;
    std::string error;
    ScannedSamples out = ScanRound(c, job, round, survivors, &twice, &error);
    EXPECT_TRUE(twice.empty()) << "stored twice: " << absl::StrJoin(twice, ", ");
    EXPECT_EQ(error, "");
    return out;
  }

  static std::vector<std::string> ProblemIds() {
    std::vector<std::string> ids;
    std::ifstream in(Fixture());
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) ids.push_back(Json::parse(line)["question_id"]);
    }
    return ids;
  }

  static void ExpectEverySampleOnce(ClusterClient* c, const std::string& job, int round, int n) {
    auto got = Scan(c, job, round);
    const auto ids = ProblemIds();
    EXPECT_EQ(got.size(), ids.size() * n);
    for (const std::string& id : ids) {
      for (int i = 0; i < n; ++i) EXPECT_EQ(got.count({id, i}), 1u) << id << "#" << i;
    }
  }

  static bool WaitFor(ClusterClient* c, const std::string& job, const std::function<bool(const v1::Job&)>& pred,
                      double timeout_s) {
    return WaitUntil(
        [&] {
          auto j = c->GetJob(job);
          return j.ok() && pred(*j);
        },
        timeout_s);
  }

  // (Defined below, beside its tests.)
  static void KillATrainerMidStepAndCompareWithAnUninterruptedTwin(const std::string& train,
                                                                   std::vector<int64_t>* rank_peaks);

  static std::vector<double> Losses(const std::string& metrics_jsonl) {
    std::vector<double> out;
    std::ifstream in(metrics_jsonl);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) out.push_back(Json::parse(line)["loss"].get<double>());
    }
    return out;
  }

  static ScopedTempDir* model_tmp_;
  static std::string* model_dir_;
};
ScopedTempDir* ClusterE2ETest::model_tmp_ = nullptr;
std::string* ClusterE2ETest::model_dir_ = nullptr;

TEST_F(ClusterE2ETest, TwoRoundsWithEvalOnTwoSamplersAndTwoTrainersDoWhatSsdSays) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kTimeouts));
  const std::string out = cluster.dir() + "/out";
  const std::string spec = cluster.WriteSpec(
      Spec(out,
           Train(2, 4) + absl::StrCat("filter:\n  drop_empty: true\n  drop_shortest_percent: 10\neval:\n  benchmark: ",
                                      Fixture(), "\n  n: 2\n  max_tokens: 48\n  temperatures: [0.6, 1.0]\n",
                                      "  base_temperatures: [0.7]\n  ks: [1, 2]\n"),
           /*rounds=*/2));
  for (int i = 0; i < 2; ++i) cluster.StartSampler();
  for (int i = 0; i < 2; ++i) cluster.StartTrainer();
  const ProcessResult r = cluster.Ssd({"submit", spec}, 280);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << cluster.coordinator()->Log();
  auto client = cluster.Client();
  auto job = client->GetJob("job-000001");
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);

  // Every (round, problem, sample_index) exactly once, each round's samples
  // made with the round's weights version.
  for (int round : {1, 2}) {
    ExpectEverySampleOnce(client.get(), "job-000001", round, 2);
    for (const auto& [k, s] : Scan(client.get(), "job-000001", round)) {
      EXPECT_EQ(s.sample().weights_version(), round - 1) << k.first << "#" << k.second;
    }
  }
  // The filter dropped exactly what the global rule says: empty texts, then
  // the shortest 10% by code points (ties by problem, then sample index).
  const auto ids = ProblemIds();
  for (int round : {1, 2}) {
    std::vector<std::tuple<int64_t, size_t, int64_t>> kept;
    for (const auto& [k, s] : Scan(client.get(), "job-000001", round)) {
      const std::string& t = s.sample().text();
      if (t.find_first_not_of(" \t\r\n\f\v") == std::string::npos) continue;
      int64_t chars = 0;
      for (unsigned char ch : t) chars += (ch & 0xC0) != 0x80;
      kept.emplace_back(chars, std::find(ids.begin(), ids.end(), k.first) - ids.begin(), k.second);
    }
    std::sort(kept.begin(), kept.end());
    std::set<std::pair<std::string, int64_t>> want;
    for (size_t i = kept.size() / 10; i < kept.size(); ++i) {
      want.insert({ids[std::get<1>(kept[i])], std::get<2>(kept[i])});
    }
    std::set<std::pair<std::string, int64_t>> got;
    for (const auto& [k, s] : Scan(client.get(), "job-000001", round, /*survivors=*/true)) got.insert(k);
    EXPECT_EQ(got, want) << "round " << round;
    EXPECT_EQ(job->rounds(round - 1).filter().survivors(), static_cast<int64_t>(want.size()));
  }
  // The loss fell in each round (rank 0's metrics).
  for (int round : {1, 2}) {
    const std::vector<double> l = Losses(absl::StrCat(out, "/round-", round, "/metrics.jsonl"));
    ASSERT_GE(l.size(), 2u) << "round " << round;
    EXPECT_LT(l.back(), l.front()) << "round " << round;
  }
  // Each trainer rank read the sizes of every survivor and the text of only
  // the survivors its micro-batches use (every one, over 4 epochs, is used
  // by some rank).
  for (int round : {1, 2}) {
    int ranks = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(cluster.dir())) {
      const std::string name = entry.path().filename().string();
      if (entry.path().parent_path().filename() != absl::StrCat("round-", round, "-data") ||
          !absl::StartsWith(name, "sizes.rank")) {
        continue;
      }
      ++ranks;
      const std::string sizes = *ReadFileToString(entry.path().string());
      const std::vector<std::string> lines = absl::StrSplit(sizes, '\n', absl::SkipEmpty());
      ASSERT_GE(lines.size(), 2u) << entry.path();
      EXPECT_EQ(static_cast<int64_t>(lines.size() - 1), job->rounds(round - 1).filter().survivors()) << entry.path();
      int64_t held = 0;
      for (size_t i = 1; i < lines.size(); ++i) held += absl::EndsWith(lines[i], " 1");
      const std::string rank = name.substr(std::string("sizes.rank").size(), name.size() - 4 - 10);
      const std::string data =
          *ReadFileToString((entry.path().parent_path() / absl::StrCat("survivors.rank", rank, ".jsonl")).string());
      EXPECT_EQ(static_cast<int64_t>(std::count(data.begin(), data.end(), '\n')), held) << entry.path();
    }
    EXPECT_EQ(ranks, 2) << "round " << round << ": both ranks planned from sizes";
  }
  // Both samplers hold the pushed versions.
  auto workers = client->ListWorkers(false);
  ASSERT_TRUE(workers.ok());
  int samplers = 0;
  for (const v1::WorkerStatus& w : workers->workers()) {
    if (w.role() != v1::WORKER_ROLE_SAMPLER) continue;
    ++samplers;
    std::set<int> versions;
    for (const v1::WeightsRef& h : w.weights_held()) versions.insert(h.version());
    EXPECT_TRUE(versions.count(1) && versions.count(2)) << w.worker_id();
  }
  EXPECT_EQ(samplers, 2);
  // The eval report: pass@k per temperature for the base and both rounds.
  ASSERT_EQ(job->evals_size(), 3);
  EXPECT_EQ(job->evals(0).round(), 0);
  EXPECT_EQ(job->evals(0).temperatures_size(), 1);
  for (int i : {1, 2}) {
    EXPECT_EQ(job->evals(i).round(), i);
    ASSERT_EQ(job->evals(i).temperatures_size(), 2);
    EXPECT_EQ(job->evals(i).temperatures(0).groups(0).name(), "overall");
    EXPECT_EQ(job->evals(i).temperatures(0).groups(0).num_problems(), 5);
    EXPECT_EQ(job->evals(i).temperatures(0).groups(0).pass_at_k_size(), 2);
  }
  EXPECT_NE(r.out.find("base model"), std::string::npos);
  // Round 1 is what `ssd sample` gives for the same prompts, settings and
  // seed: placement does not matter.
  const std::string sampled = cluster.dir() + "/ssd_sample.jsonl";
  const ProcessResult s =
      RunProcess({SsdBinary(),     "sample", "--model",   *model_dir_, "--prompts", Fixture(), "--n",          "2",
                  "--temperature", "1.5",    "--top-k",   "20",        "--top-p",   "0.8",     "--max-tokens", "48",
                  "--seed",        "0",      "--threads", "1",         "--out",     sampled},
                 120);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const auto round1 = Scan(client.get(), "job-000001", 1);
  std::ifstream in(sampled);
  std::string line;
  int compared = 0;
  while (std::getline(in, line)) {
    const Json j = Json::parse(line);
    auto it = round1.find({j["prompt_id"].get<std::string>(), j["sample_index"].get<int64_t>()});
    ASSERT_NE(it, round1.end());
    EXPECT_EQ(it->second.sample().text(), j["text"].get<std::string>()) << it->first.first;
    EXPECT_EQ(it->second.sample().num_tokens(), j["num_tokens"].get<int64_t>());
    ++compared;
  }
  EXPECT_EQ(compared, 10);
  // The export parses as ml-ssd chat JSONL.
  const std::string exported = cluster.dir() + "/round1.jsonl";
  ASSERT_EQ(cluster.Ssd({"export", "job-000001", "--round", "1", "--all", "--out", exported}).exit_code, 0);
  int lines = 0;
  std::ifstream ex(exported);
  while (std::getline(ex, line)) {
    const Json j = Json::parse(line);
    ASSERT_EQ(j["messages"].size(), 2u);
    EXPECT_EQ(j["messages"][0]["role"], "user");
    EXPECT_EQ(j["messages"][1]["role"], "assistant");
    ++lines;
  }
  EXPECT_EQ(lines, 10);

  // The same job on one sampler and one trainer: the identical round 1.
  LocalCluster small;
  ASSERT_TRUE(small.StartCoordinator(kTimeouts));
  small.StartSampler();
  small.StartTrainer();
  const std::string spec1 = small.WriteSpec(Spec(small.dir() + "/out", Train(1, 1)));
  ASSERT_EQ(small.Ssd({"submit", spec1}, 200).exit_code, 0);
  const std::string exported_small = small.dir() + "/round1.jsonl";
  ASSERT_EQ(small.Ssd({"export", "job-000001", "--round", "1", "--all", "--out", exported_small}).exit_code, 0);
  EXPECT_EQ(*ReadFileToString(exported_small), *ReadFileToString(exported));
}

TEST_F(ClusterE2ETest, ASamplerKilledMidShardLosesNothingAndDuplicatesNothing) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kTimeouts));
  auto client = cluster.Client();
  // Long samples, so a shard is still running when the sampler dies.
  auto job = client->Submit(absl::StrCat("model: ", *model_dir_, "\nproblems: ", Fixture(),
                                         "\nshard_size: 3\nsampling:\n  n: 2\n  max_tokens: 1500\n", Train(1, 1),
                                         "output_dir: ", cluster.dir(), "/out\n"),
                            cluster.dir());
  ASSERT_TRUE(job.ok()) << job.status();
  BackgroundProcess* victim = cluster.StartSampler();
  std::string victim_id;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto w = client->ListWorkers(false);
        for (const v1::WorkerStatus& s : w->workers()) {
          if (s.leases_size() > 0) victim_id = s.worker_id();
        }
        auto j = client->GetJob(job->job_id());
        return !victim_id.empty() && j->progress().samples_done() > 0;
      },
      60));
  victim->Signal(SIGKILL);
  ASSERT_NE(victim->Wait(10), -1);
  cluster.StartSampler();
  cluster.StartTrainer();
  ASSERT_TRUE(WaitFor(
      client.get(), job->job_id(), [](const v1::Job& j) { return j.state() == v1::JOB_STATE_SUCCEEDED; }, 200))
      << cluster.coordinator()->Log();
  ExpectEverySampleOnce(client.get(), job->job_id(), 1, 2);
  const std::string log = cluster.coordinator()->Log();
  EXPECT_TRUE(log.find("worker " + victim_id + " missed its heartbeats") != std::string::npos ||
              log.find("held by " + victim_id + " expired") != std::string::npos)
      << log;
}

// A trainer group of 2 (of 3 trainers) trains with `train` (checkpoints
// every 3 steps); once a few steps are logged, one member is SIGKILLed. The
// group re-forms and resumes from the last checkpoint, and ends with the
// weights of a twin job that ran uninterrupted. With `rank_peaks`, it
// also collects each rank's peak memory from the job's progress.
void ClusterE2ETest::KillATrainerMidStepAndCompareWithAnUninterruptedTwin(const std::string& train,
                                                                          std::vector<int64_t>* rank_peaks) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kTimeouts));
  auto client = cluster.Client();
  cluster.StartSampler();
  std::vector<BackgroundProcess*> trainers = {cluster.StartTrainer(), cluster.StartTrainer(), cluster.StartTrainer()};
  // Twin jobs: the same samples (same seed), the same recipe, two outputs.
  const std::string a_out = cluster.dir() + "/a", b_out = cluster.dir() + "/b";
  auto a = client->Submit(ClusterE2ETest::Spec(a_out, train), cluster.dir());
  ASSERT_TRUE(a.ok()) << a.status();
  // Kill a trainer once a few steps are logged (and a checkpoint exists).
  ASSERT_TRUE(WaitUntil([&] { return ClusterE2ETest::Losses(a_out + "/round-1/metrics.jsonl").size() >= 7; }, 120));
  if (rank_peaks != nullptr) {
    // Every rank has reported its peak memory by now (progress every 500 ms).
    WaitUntil(
        [&] {
          auto j = client->GetJob(a->job_id());
          if (!j.ok()) return false;
          rank_peaks->assign(j->progress().train_rank_peak_rss_bytes().begin(),
                             j->progress().train_rank_peak_rss_bytes().end());
          return rank_peaks->size() == 2 && (*rank_peaks)[0] > 0 && (*rank_peaks)[1] > 0;
        },
        10);
  }
  std::string group;
  auto w = client->ListWorkers(false);
  for (const v1::WorkerStatus& s : w->workers()) {
    for (const v1::LeaseRef& l : s.leases()) {
      if (l.kind() == v1::LEASE_KIND_TRAIN && group.empty()) group = s.worker_id();
    }
  }
  ASSERT_FALSE(group.empty());
  for (BackgroundProcess* t : trainers) {
    if (t->Log().find("registered as " + group) != std::string::npos) {
      t->Signal(SIGKILL);
      ASSERT_NE(t->Wait(10), -1);
    }
  }
  ASSERT_TRUE(ClusterE2ETest::WaitFor(
      client.get(), a->job_id(), [](const v1::Job& j) { return j.state() == v1::JOB_STATE_SUCCEEDED; }, 200))
      << cluster.coordinator()->Log();
  EXPECT_NE(cluster.coordinator()->Log().find("worker " + group + " missed its heartbeats"), std::string::npos);
  // The re-formed group continued from the checkpoint, not from step 0.
  std::string rank_logs;
  for (int r = 0; r < 2; ++r)
    rank_logs += ReadFileToString(a_out + "/round-1/train.rank" + std::to_string(r) + ".log").value_or("");
  EXPECT_NE(rank_logs.find("resumed from"), std::string::npos) << rank_logs.substr(0, 4000);
  auto b = client->Submit(ClusterE2ETest::Spec(b_out, train), cluster.dir());
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(ClusterE2ETest::WaitFor(
      client.get(), b->job_id(), [](const v1::Job& j) { return j.state() == v1::JOB_STATE_SUCCEEDED; }, 200));
  // Every weights file of the model folder (one, or one per unit when
  // sharded) is the same bytes.
  int files = 0;
  for (const auto& f : std::filesystem::directory_iterator(a_out + "/round-1/model")) {
    const std::string name = f.path().filename().string();
    if (name.find(".safetensors") == std::string::npos) continue;
    ++files;
    const auto wa = ReadFileToString(f.path().string(), size_t{1} << 30);
    const auto wb = ReadFileToString(b_out + "/round-1/model/" + name, size_t{1} << 30);
    ASSERT_TRUE(wa.ok() && wb.ok()) << name;
    EXPECT_TRUE(*wa == *wb) << name << ": the resumed run's weights differ from the uninterrupted run's";
  }
  EXPECT_GT(files, 0);
}

TEST_F(ClusterE2ETest, ATrainerKilledMidStepResumesToTheWeightsOfAnUninterruptedRun) {
  KillATrainerMidStepAndCompareWithAnUninterruptedTwin(Train(2, 10, /*save_every=*/3), nullptr);
}

TEST_F(ClusterE2ETest, AFullyShardedTrainerKilledMidStepResumesFromItsShardsToTheUninterruptedWeights) {
  std::vector<int64_t> peaks;
  KillATrainerMidStepAndCompareWithAnUninterruptedTwin(Train(2, 10, /*save_every=*/3) + "  sharding: full\n", &peaks);
  ASSERT_EQ(peaks.size(), 2u) << "each rank's peak memory reaches the job's progress";
  EXPECT_GT(peaks[0], 0);
  EXPECT_GT(peaks[1], 0);
}

TEST_F(ClusterE2ETest, TheCoordinatorKilledMidTrainingRestartsAndTheJobCompletes) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kTimeouts));
  auto client = cluster.Client();
  cluster.StartSampler();
  cluster.StartTrainer();
  auto job = client->Submit(Spec(cluster.dir() + "/out", Train(1, 10)), cluster.dir());
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(WaitFor(
      client.get(), job->job_id(), [](const v1::Job& j) { return j.progress().train_step() >= 2; }, 120));
  cluster.KillCoordinator(SIGKILL);
  ASSERT_TRUE(cluster.StartCoordinator(kTimeouts)) << cluster.coordinator()->Log();
  ASSERT_TRUE(WaitFor(
      client.get(), job->job_id(), [](const v1::Job& j) { return j.state() == v1::JOB_STATE_SUCCEEDED; }, 200))
      << cluster.coordinator()->Log();
  ExpectEverySampleOnce(client.get(), job->job_id(), 1, 2);
}

TEST_F(ClusterE2ETest, APushInterruptedHalfwayLeavesTheOldVersionAndIsRetried) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kTimeouts));
  auto client = cluster.Client();
  for (int i = 0; i < 2; ++i) cluster.StartSampler();
  auto job = client->Submit(Spec(cluster.dir() + "/out", Train(1, 1), /*rounds=*/2), cluster.dir());
  ASSERT_TRUE(job.ok());
  // The only trainer trains round 1, then dies 100 KB into its push.
  BackgroundProcess dying(
      {SsdBinary(), "trainer", "--coordinator", cluster.address(), "--work-dir", cluster.dir() + "/dying", "--certs",
       cluster.certs(), "--threads", "1", "--push-chunk-bytes", "32768"},
      cluster.dir() + "/dying.log", {"SSD_TEST_TRAINER_DIE_AFTER_PUSH_BYTES=100000", "OMP_WAIT_POLICY=PASSIVE"});
  ASSERT_NE(dying.Wait(120), -1) << "the trainer should have died mid-push: " << dying.Log();
  EXPECT_NE(dying.Log().find("dying mid-push"), std::string::npos);
  // Nothing was installed from the torn stream: both samplers hold only
  // the base.
  auto w = client->ListWorkers(false);
  for (const v1::WorkerStatus& s : w->workers()) {
    if (s.role() != v1::WORKER_ROLE_SAMPLER) continue;
    for (const v1::WeightsRef& h : s.weights_held()) EXPECT_EQ(h.version(), 0) << s.worker_id();
  }
  EXPECT_EQ(client->GetJob(job->job_id())->state(), v1::JOB_STATE_PUSHING);
  // Another trainer takes the push over (from the saved model folder).
  cluster.StartTrainer();
  ASSERT_TRUE(WaitFor(
      client.get(), job->job_id(), [](const v1::Job& j) { return j.state() == v1::JOB_STATE_SUCCEEDED; }, 200))
      << cluster.coordinator()->Log();
  ExpectEverySampleOnce(client.get(), job->job_id(), 2, 2);
  for (const auto& [k, s] : Scan(client.get(), job->job_id(), 2)) EXPECT_EQ(s.sample().weights_version(), 1);
}

TEST_F(ClusterE2ETest, ASamplerStartedAfterRoundOneFetchesVersionOneFromAPeerAndServesRoundTwo) {
  LocalCluster cluster;
  // Leases and workers outlive the pause below.
  ASSERT_TRUE(cluster.StartCoordinator({"--lease-ttl-ms", "60000", "--heartbeat-interval-ms", "300",
                                        "--worker-timeout-ms", "60000", "--recovery-grace-ms", "6000"}));
  auto client = cluster.Client();
  BackgroundProcess* first = cluster.StartSampler();
  cluster.StartTrainer();
  // Five one-problem shards of long samples per round: when round 2 starts
  // there is queued work for a newcomer.
  auto job = client->Submit(Spec(cluster.dir() + "/out", Train(1, 1), /*rounds=*/2, /*max_tokens=*/1500,
                                 /*shard_size=*/1),
                            cluster.dir());
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(WaitFor(
      client.get(), job->job_id(),
      [](const v1::Job& j) { return j.round() == 2 && j.state() == v1::JOB_STATE_SAMPLING; }, 200));
  // The first sampler is paused so round-2 shards stay queued however
  // slowly the newcomer starts; it resumes once the newcomer has asked it
  // for version 1, and serves that fetch.
  first->Signal(SIGSTOP);
  BackgroundProcess* late = cluster.StartSampler();
  const bool asked = late->WaitForLog("fetching job-000001 v1 from sampler-", 120);
  first->Signal(SIGCONT);
  ASSERT_TRUE(asked) << late->Log();
  ASSERT_TRUE(WaitFor(
      client.get(), job->job_id(), [](const v1::Job& j) { return j.state() == v1::JOB_STATE_SUCCEEDED; }, 200))
      << cluster.coordinator()->Log();
  // It joined after the push, so it fetched version 1 from the first
  // sampler, then sampled round-2 shards with it.
  EXPECT_NE(late->Log().find("fetching job-000001 v1 from sampler-"), std::string::npos) << late->Log();
  EXPECT_NE(late->Log().find("serving job-000001 v1"), std::string::npos) << late->Log();
  ExpectEverySampleOnce(client.get(), job->job_id(), 2, 2);
  for (const auto& [k, s] : Scan(client.get(), job->job_id(), 2)) EXPECT_EQ(s.sample().weights_version(), 1);
}

TEST_F(ClusterE2ETest, BadPushesToARealSamplerGetClearStatusesAndItKeepsServing) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kTimeouts));
  BackgroundProcess* sampler = cluster.StartSampler();
  ASSERT_TRUE(sampler->WaitForLog("serving weights on port ", 30));
  const std::string log = sampler->Log();
  const int port = std::atoi(log.c_str() + log.find("serving weights on port ") + strlen("serving weights on port "));
  ASSERT_GT(port, 0);
  ASSERT_TRUE(sampler->WaitForLog("registered as", 30));
  SecurityOptions sec;
  sec.ca_file = cluster.certs() + "/ca.pem";
  sec.token = *ReadTokenFile(cluster.certs() + "/token");
  ChannelFactory channels = [&](const std::string& a) -> absl::StatusOr<std::shared_ptr<grpc::Channel>> {
    ChannelOptions c;
    c.target = a;
    c.security = sec;
    return MakeChannel(c);
  };
  const std::string address = absl::StrCat("localhost:", port);
  v1::PushTarget target;
  target.set_worker_id("sampler-under-test");
  target.set_address(address);
  v1::WeightsRef ref;
  ref.set_job_id("job-000001");
  ref.set_version(1);
  // A good model folder to push, then mangled copies of it.
  const std::string good = *model_dir_;
  auto push = [&](const std::string& dir, const v1::WeightsRef& r,
                  const std::function<void(int64_t, grpc::ByteBuffer*)>& mangle,
                  int64_t chunk = 65536) -> absl::Status {
    auto src = WeightsSource::Open(dir, r, chunk);
    if (!src.ok()) return src.status();
    std::unique_ptr<PushStream> s = PushStream::Open(*channels(address), 30000);
    if (!s->Write((*src)->ManifestMessage({}, good))) return s->Finish().status();
    for (int64_t i = 0; i < (*src)->num_chunks(); ++i) {
      grpc::ByteBuffer b = (*src)->Chunk(i);
      if (mangle) mangle(i, &b);
      if (!s->Write(b)) break;
    }
    return s->Finish().status();
  };
  // A wrong checksum.
  const absl::Status corrupt = push(good, ref, [](int64_t i, grpc::ByteBuffer* b) {
    if (i != 3) return;
    std::vector<grpc::Slice> slices;
    (void)b->Dump(&slices);
    std::string bytes;
    for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
    bytes[bytes.size() / 2] ^= 1;
    grpc::Slice one(bytes.data(), bytes.size());
    *b = grpc::ByteBuffer(&one, 1);
  });
  EXPECT_EQ(corrupt.code(), absl::StatusCode::kDataLoss) << corrupt;
  EXPECT_NE(corrupt.message().find("checksum mismatch"), std::string::npos) << corrupt;
  // A skipped version.
  v1::WeightsRef v3 = ref;
  v3.set_version(3);
  const absl::Status skipped = push(good, v3, {});
  EXPECT_EQ(skipped.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(skipped.message().find("skipped version"), std::string::npos) << skipped;
  // Another architecture.
  const std::string other = cluster.dir() + "/other";
  ASSERT_EQ(MakeTinyModel(other, /*vocab_size=*/400), "");
  const absl::Status arch = push(other, ref, {});
  EXPECT_EQ(arch.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(arch.message().find("another architecture"), std::string::npos) << arch;
  // A chunk over the limit (the sampler takes at most 16 MiB per chunk; the
  // gRPC limit is 64 MiB).
  const absl::Status big = push(good, ref, {}, /*chunk=*/32 << 20);
  EXPECT_TRUE(big.ok()) << "a whole-file chunk of a tiny model is within limits: " << big;
  // The sampler is still up, and a clean push of v1 installed it.
  EXPECT_TRUE(sampler->running()) << sampler->Log();
  EXPECT_NE(sampler->Log().find("installed weights job-000001 v1"), std::string::npos);
  // A lease for a model the sampler cannot load fails the shard with the
  // reason, and then the job; the sampler keeps running.
  auto client = cluster.Client();
  auto job = client->Submit(
      absl::StrCat("model: ", cluster.dir(), "/no-such-model\nproblems: ", Fixture(), "\nmax_shard_attempts: 2\n"),
      cluster.dir());
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(WaitFor(
      client.get(), job->job_id(), [](const v1::Job& j) { return j.state() == v1::JOB_STATE_FAILED; }, 60));
  const std::string error = client->GetJob(job->job_id())->error();
  EXPECT_NE(error.find("cannot load the model for job-00000"), std::string::npos) << error;
  EXPECT_NE(error.find("no-such-model"), std::string::npos) << error;
  EXPECT_TRUE(sampler->running());
}

TEST_F(ClusterE2ETest, ABigChunkOverTheSamplersLimitIsResourceExhausted) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kTimeouts));
  BackgroundProcess* sampler = cluster.StartSampler();
  ASSERT_TRUE(sampler->WaitForLog("registered as", 30));
  const std::string log = sampler->Log();
  const int port = std::atoi(log.c_str() + log.find("serving weights on port ") + strlen("serving weights on port "));
  // A folder whose weights file is one 20 MB tensor, sent as one chunk.
  const std::string big = cluster.dir() + "/big";
  ASSERT_TRUE(MakeDirs(big).ok());
  ASSERT_TRUE(WriteFileAtomically(big + "/config.json", *ReadFileToString(*model_dir_ + "/config.json")).ok());
  std::vector<float> w(5 << 20, 1.0f);
  ASSERT_TRUE(WriteSafetensors(big + "/model.safetensors", {{"w", DType::kF32, {5 << 20}, w.data()}}).ok());
  SecurityOptions sec;
  sec.ca_file = cluster.certs() + "/ca.pem";
  sec.token = *ReadTokenFile(cluster.certs() + "/token");
  ChannelOptions c;
  c.target = absl::StrCat("localhost:", port);
  c.security = sec;
  v1::WeightsRef ref;
  ref.set_job_id("job-000001");
  ref.set_version(1);
  auto src = WeightsSource::Open(big, ref, 32 << 20);
  ASSERT_TRUE(src.ok());
  std::unique_ptr<PushStream> s = PushStream::Open(*MakeChannel(c), 30000);
  ASSERT_TRUE(s->Write((*src)->ManifestMessage({}, *model_dir_)));
  for (int64_t i = 0; i < (*src)->num_chunks(); ++i) {
    if (!s->Write((*src)->Chunk(i))) break;
  }
  const absl::Status st = s->Finish().status();
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_TRUE(sampler->running()) << sampler->Log();
}

}  // namespace
}  // namespace ssd
