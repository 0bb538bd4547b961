// The cluster with samplers on `--backend openai`, across real processes on
// 127.0.0.1 under TLS and tokens: each sampler in front of its own `ssd
// serve` (new versions posted to its reload route); round 1 equal to the
// native engine's bitwise; eval answers through the backends; a server
// killed mid-shard; and a managed server the sampler restarts on each
// weights version.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/util/file_util.h"
#include "nlohmann/json.hpp"
#include "tests/cluster/cluster_harness.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_model.h"

namespace ssd {
namespace {

using Json = nlohmann::json;
using Samples = ScannedSamples;

const std::vector<std::string> kTimeouts = {"--lease-ttl-ms",      "2000", "--heartbeat-interval-ms", "300",
                                            "--worker-timeout-ms", "3000", "--recovery-grace-ms",     "6000"};

std::string Fixture() { return SourceDir() + "/tests/fixtures/eval/lcb_mini.jsonl"; }

class BackendClusterTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_tmp_ = new ScopedTempDir("ssd_backend_model");
    model_dir_ = new std::string(model_tmp_->Join("model"));
    ASSERT_EQ(MakeTinyModel(*model_dir_), "");
  }
  static void TearDownTestSuite() {
    delete model_dir_;
    delete model_tmp_;
  }

  static std::string Spec(const std::string& out_dir, int rounds, int max_tokens = 48, int min_tokens = 0,
                          const std::string& extra = "") {
    return absl::StrCat("name: backend\nmodel: ", *model_dir_, "\nproblems: ", Fixture(), "\noutput_dir: ", out_dir,
                        "\nrounds: ", rounds, "\nshard_size: 2\n",
                        "sampling:\n  n: 2\n  temperature: 1.5\n  top_k: 20\n  top_p: 0.8\n  max_tokens: ", max_tokens,
                        "\n  min_tokens: ", min_tokens, "\n  seed: 0\n",
                        "train:\n  epochs: 1\n  lr: 1.0e-3\n  warmup_steps: 0\n  max_seq_len: 1024\n",
                        "  micro_batch_tokens: 1024\n  batch_tokens: 2048\n  trainers: 1\n", extra);
  }

  // `ssd serve` on the tiny model over TLS with the cluster's token; its port.
  static int StartServe(LocalCluster& cluster, const std::string& name,
                        std::vector<std::unique_ptr<BackgroundProcess>>* out) {
    const std::string port_file = cluster.dir() + "/" + name + ".port";
    out->push_back(std::make_unique<BackgroundProcess>(
        std::vector<std::string>{SsdBinary(), "serve", "--model", *model_dir_, "--listen", "127.0.0.1:0",
                                 "--port-file", port_file, "--certs", cluster.certs(), "--threads", "1"},
        cluster.dir() + "/" + name + ".log", std::vector<std::string>{"OMP_WAIT_POLICY=PASSIVE"}));
    int port = 0;
    WaitUntil([&] { return PathExists(port_file); }, 60);
    auto text = ReadFileToString(port_file);
    if (text.ok()) absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &port);
    return port;
  }

  static std::vector<std::string> OpenAiFlags(const LocalCluster& cluster, int port) {
    return {"--backend",          "openai",
            "--backend-url",      absl::StrCat("https://127.0.0.1:", port, "/v1"),
            "--backend-tls-ca",   cluster.certs() + "/ca.pem",
            "--backend-token-file", cluster.certs() + "/token",
            "--backend-retry-window-s", "3",
            // A new version is posted to the server's reload route.
            "--backend-reload-url", absl::StrCat("https://127.0.0.1:", port, "/update_weights_from_disk")};
  }

  static ScannedSamples Scan(ClusterClient* c, const std::string& job, int round) {
    std::vector<std::string> twice;
    std::string error;
    ScannedSamples out = ScanRound(c, job, round, /*survivors=*/false, &twice, &error);
    EXPECT_TRUE(twice.empty()) << "stored twice: " << absl::StrJoin(twice, ", ");
    EXPECT_EQ(error, "");
    return out;
  }

  // `ssd sample` (the native engine in one process) for the same prompts,
  // settings and seed, by (prompt, index).
  static std::map<std::pair<std::string, int64_t>, Json> NativeRound1(const std::string& out, int max_tokens = 48,
                                                                        int min_tokens = 0) {
    std::vector<std::string> argv = {SsdBinary(),   "sample",     "--model",       *model_dir_,
                                     "--prompts",   Fixture(),    "--n",           "2",
                                     "--temperature", "1.5",      "--top-k",       "20",
                                     "--top-p",     "0.8",        "--max-tokens",  std::to_string(max_tokens),
                                     "--min-tokens", std::to_string(min_tokens), "--seed", "0",
                                     "--threads",   "1",          "--out",         out};
    const ProcessResult s = RunProcess(argv, 300);
    EXPECT_EQ(s.exit_code, 0) << s.err;
    std::map<std::pair<std::string, int64_t>, Json> got;
    std::ifstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      const Json j = Json::parse(line);
      got[{j["prompt_id"].get<std::string>(), j["sample_index"].get<int64_t>()}] = j;
    }
    return got;
  }

  static ScopedTempDir* model_tmp_;
  static std::string* model_dir_;
};
ScopedTempDir* BackendClusterTest::model_tmp_ = nullptr;
std::string* BackendClusterTest::model_dir_ = nullptr;

TEST_F(BackendClusterTest, RoundOneThroughTwoSsdServesIsBitwiseTheNativeEnginesAndSurvivesAServerKilledMidShard) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kTimeouts));
  std::vector<std::unique_ptr<BackgroundProcess>> serves;
  const int port_a = StartServe(cluster, "serve-a", &serves);
  const int port_b = StartServe(cluster, "serve-b", &serves);
  ASSERT_GT(port_a, 0) << serves[0]->Log();
  ASSERT_GT(port_b, 0) << serves[1]->Log();
  cluster.StartSampler(OpenAiFlags(cluster, port_a));
  cluster.StartSampler(OpenAiFlags(cluster, port_b));
  cluster.StartTrainer();

  // Job 1, with eval: every sample once, bitwise what the native engine
  // gives; the eval answers come through the backends too (round 1's from
  // version 1, posted to each server's reload route), graded here.
  const std::string eval = absl::StrCat("eval:\n  benchmark: ", Fixture(),
                                        "\n  n: 2\n  max_tokens: 48\n  temperatures: [1.0]\n  ks: [1]\n");
  const ProcessResult r =
      cluster.Ssd({"submit", cluster.WriteSpec(Spec(cluster.dir() + "/out1", 1, 48, 0, eval))}, 280);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << cluster.coordinator()->Log();
  auto client = cluster.Client();
  const Samples round1 = Scan(client.get(), "job-000001", 1);
  const auto native = NativeRound1(cluster.dir() + "/native1.jsonl");
  ASSERT_EQ(native.size(), 10u);
  ASSERT_EQ(round1.size(), 10u);
  for (const auto& [key, want] : native) {
    auto it = round1.find(key);
    ASSERT_NE(it, round1.end()) << key.first << "#" << key.second;
    EXPECT_EQ(it->second.sample().text(), want["text"].get<std::string>()) << key.first << "#" << key.second;
    EXPECT_EQ(it->second.sample().num_tokens(), want["num_tokens"].get<int64_t>());
    EXPECT_EQ(it->second.sample().weights_version(), 0);
    EXPECT_GT(it->second.sample().sft_tokens(), 0) << "sized from the local tokenizer files";
  }
  auto job1 = client->GetJob("job-000001");
  ASSERT_TRUE(job1.ok());
  ASSERT_EQ(job1->evals_size(), 2) << "the base and round 1";
  for (const v1::EvalReport& e : job1->evals()) {
    ASSERT_GE(e.temperatures_size(), 1);
    EXPECT_EQ(e.temperatures(0).groups(0).num_problems(), 5);
  }
  // Each server was told to serve version 1 for round 1's eval.
  for (int i : {0, 1}) {
    EXPECT_NE(serves[i]->Log().find("as version"), std::string::npos) << serves[i]->Log();
  }
  // Both servers answered.
  for (int i : {0, 1}) EXPECT_NE(serves[i]->Log().find("ssd serve"), std::string::npos);

  // Job 2, long samples (min_tokens): kill server A while it generates.
  const std::string spec2 = cluster.WriteSpec(Spec(cluster.dir() + "/out2", 1, 1500, 1500), "job2.yaml");
  std::unique_ptr<BackgroundProcess> submit = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{SsdBinary(), "submit", spec2, "--coordinator", cluster.address(), "--certs",
                               cluster.certs()},
      cluster.dir() + "/submit2.log");
  // Mid-shard: sampler A has leased a shard of job 2 and its server is
  // answering requests for it.
  const std::string metrics_a = absl::StrCat("https://127.0.0.1:", port_a, "/metrics");
  ASSERT_TRUE(WaitUntil(
      [&] {
        const ProcessResult m = RunProcess({"curl", "-sk", metrics_a}, 10);
        for (absl::string_view line : absl::StrSplit(m.out, '\n')) {
          double v = 0;
          if (absl::StartsWith(line, "ssd_serve_running_requests ") &&
              absl::SimpleAtod(line.substr(strlen("ssd_serve_running_requests ")), &v) && v > 0) {
            return true;
          }
        }
        return false;
      },
      120))
      << "server A never had a request in flight";
  serves[0]->Signal(SIGKILL);
  serves[0]->Wait(30);
  ASSERT_EQ(submit->Wait(280), 0) << submit->Log() << cluster.coordinator()->Log();
  // The shard failed here with the reason, went to sampler B, and nothing
  // was lost or stored twice.
  const std::string coord = cluster.coordinator()->Log();
  EXPECT_NE(coord.find(absl::StrCat("the backend server https://127.0.0.1:", port_a, "/v1 failed for")),
            std::string::npos)
      << coord;
  const Samples round1b = Scan(client.get(), "job-000002", 1);
  EXPECT_EQ(round1b.size(), 10u);
  const auto native_slow = NativeRound1(cluster.dir() + "/native2.jsonl", 1500, 1500);
  for (const auto& [key, want] : native_slow) {
    auto it = round1b.find(key);
    ASSERT_NE(it, round1b.end()) << key.first << "#" << key.second;
    EXPECT_EQ(it->second.sample().text(), want["text"].get<std::string>()) << key.first << "#" << key.second;
  }
  // Sampler A takes no work while its server is down, and says why: in its
  // log and, through its heartbeats, in `ssd workers`.
  EXPECT_TRUE(WaitUntil([&] { return cluster.workers()[0]->Log().find("taking no work") != std::string::npos; }, 30))
      << cluster.workers()[0]->Log();
  std::string listed;
  EXPECT_TRUE(WaitUntil(
      [&] {
        const ProcessResult w = cluster.Ssd({"workers"}, 30);
        listed = w.out;
        return absl::StrContains(w.out, absl::StrCat("the backend server https://127.0.0.1:", port_a, "/v1 is down"));
      },
      30))
      << listed;
}

TEST_F(BackendClusterTest, AManagedServerIsRestartedOnEachNewVersionAndRoundTwoCarriesVersionOne) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kTimeouts));
  const std::string command = absl::StrCat(SsdBinary(), " serve --model {model} --listen 127.0.0.1:{port} --certs ",
                                           cluster.certs(), " --threads 1");
  cluster.StartSampler({"--backend", "openai", "--backend-command", command, "--backend-url",
                        "https://127.0.0.1:{port}/v1", "--backend-tls-ca", cluster.certs() + "/ca.pem",
                        "--backend-token-file", cluster.certs() + "/token", "--backend-retry-window-s", "10"});
  cluster.StartTrainer();
  const ProcessResult r = cluster.Ssd({"submit", cluster.WriteSpec(Spec(cluster.dir() + "/out", 2))}, 400);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << cluster.coordinator()->Log() << cluster.workers()[0]->Log();
  auto client = cluster.Client();
  for (int round : {1, 2}) {
    const Samples got = Scan(client.get(), "job-000001", round);
    EXPECT_EQ(got.size(), 10u) << "round " << round;
    for (const auto& [key, s] : got) {
      EXPECT_EQ(s.sample().weights_version(), round - 1) << "round " << round << " " << key.first << "#" << key.second;
    }
  }
  // The sampler started the server on the base folder, then on version 1's.
  const std::string log = cluster.workers()[0]->Log();
  std::vector<std::string> starts;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, "starting the backend server: ")) starts.emplace_back(line);
  }
  ASSERT_GE(starts.size(), 2u) << log;
  EXPECT_NE(starts[0].find(*model_dir_), std::string::npos) << starts[0];
  EXPECT_EQ(starts.back().find(*model_dir_), std::string::npos) << "the last start is on a pushed version's folder";
  EXPECT_NE(log.find("serves job-000001 v1"), std::string::npos) << log;
  // Stopping the sampler stops its server.
  cluster.workers()[0]->Signal(SIGTERM);
  cluster.workers()[0]->Wait(60);
  auto servers = [&] {
    std::vector<std::string> out;
    for (const std::string& p : ProcessesMentioning(cluster.certs())) {
      if (absl::StrContains(p, " serve --model ")) out.push_back(p);
    }
    return out;
  };
  EXPECT_TRUE(WaitUntil([&] { return servers().empty(); }, 30)) << absl::StrJoin(servers(), "\n");
}

}  // namespace
}  // namespace ssd
