// A mixture-of-experts model through a whole SSD job on `ssd local`: a tiny
// random qwen3_moe model with the tiny-code tokenizer samples, filters,
// trains on two data-parallel trainers with the router's load-balancing
// loss on, pushes the new weights to both samplers and is evaluated before
// and after. The job must succeed; the trainer's steps must carry the
// expert load and the aux loss; the round's model must be a qwen3_moe
// folder in the per-expert layout that the samplers installed as v1.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

namespace fs = std::filesystem;

// The first n lines of a file.
std::string Head(const std::string& path, int n) {
  std::ifstream in(path);
  std::string line, out;
  for (int i = 0; i < n && std::getline(in, line); ++i) out += line + "\n";
  return out;
}

TEST(MoeJobTest, ATinyQwen3MoeModelRunsAQuickstartSizedJobWithAuxLossAndWeightPush) {
  ScopedTempDir tmp("ssd_moe_job");
  const std::string dir = tmp.path();
  ProcessResult init =
      RunProcess({SsdBinary(), "model", "init", "--arch", "qwen3_moe", "--tokenizer",
                  SourceDir() + "/deploy/models/tiny-code-base", "--hidden", "64", "--layers", "2", "--heads", "4",
                  "--kv-heads", "2", "--head-dim", "16", "--intermediate", "128", "--experts", "8",
                  "--experts-per-tok", "2", "--moe-intermediate", "32", "--max-position-embeddings", "1024", "--out",
                  dir + "/model"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  std::ofstream(dir + "/problems.jsonl") << Head(SourceDir() + "/deploy/tiny-code/train.jsonl", 40);
  std::ofstream(dir + "/eval.jsonl") << Head(SourceDir() + "/deploy/tiny-code/eval.jsonl", 20);
  std::ofstream(dir + "/job.yaml")
      << "name: moe\nmodel: model\nproblems: problems.jsonl\noutput_dir: out\nrounds: 1\nshard_size: 10\n"
      << "sampling: {temperature: 1.5, top_k: 20, top_p: 0.8, n: 2, max_tokens: 64, seed: 1}\n"
      << "filter: {drop_empty: true, drop_shortest_percent: 10, length_unit: chars}\n"
      << "train: {epochs: 1, lr: 3.0e-4, max_seq_len: 256, micro_batch_tokens: 512, batch_tokens: 1024, "
         "trainers: 2, seed: 1, router_aux_loss: hf, router_aux_loss_coef: 0.01}\n"
      << "eval: {benchmark: eval.jsonl, n: 2, ks: [1], max_tokens: 64, temperatures: [1.0], held_out_fraction: 0.5, "
         "shard_size: 10, base: true}\n";
  const std::string data = dir + "/cluster";
  const ProcessResult r = RunProcess(
      {SsdBinary(), "local", dir + "/job.yaml", "--samplers", "2", "--trainers", "2", "--data-dir", data}, 600);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("SUCCEEDED"), std::string::npos) << r.out;

  // Every step of the round carries the aux loss and both layers' loads.
  std::ifstream metrics(dir + "/out/round-1/metrics.jsonl");
  std::string line;
  int steps = 0;
  while (std::getline(metrics, line)) {
    const nlohmann::json m = nlohmann::json::parse(line);
    ++steps;
    ASSERT_TRUE(m.contains("expert_load") && m.contains("aux_loss")) << line;
    EXPECT_EQ(m["expert_load"].size(), 2u) << line;
    EXPECT_GT(m["aux_loss"].get<double>(), 1.0) << "the pooled hf aux loss is about k = 2 near balance: " << line;
    EXPECT_NEAR(m["loss"].get<double>(), m["ce_loss"].get<double>() + 0.01 * m["aux_loss"].get<double>(), 1e-9);
  }
  EXPECT_GT(steps, 0);

  // The round's model: qwen3_moe, per-expert tensors, installed by both samplers as v1.
  ProcessResult info = RunProcess({SsdBinary(), "model", "info", "--model", dir + "/out/round-1/model", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out)["model_type"], "qwen3_moe");
  const std::string weights = ReadFileToString(dir + "/out/round-1/model/model.safetensors").value_or("");
  EXPECT_NE(weights.find("model.layers.1.mlp.experts.7.down_proj.weight"), std::string::npos);
  for (const char* sampler : {"sampler-0", "sampler-1"}) {
    const std::string log = ReadFileToString(absl::StrCat(data, "/logs/", sampler, ".log")).value_or("");
    EXPECT_NE(log.find("installed weights job-000001 v1"), std::string::npos) << sampler << "\n" << log;
  }
  // Both evaluations ran: the base's and round 1's.
  std::ifstream report_file(data + "/report.json");
  const nlohmann::json report = nlohmann::json::parse(report_file);
  ASSERT_EQ(report["evals"].size(), 2u) << report["evals"].dump();
}

}  // namespace
}  // namespace ssd
