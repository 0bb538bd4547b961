// End-to-end checks of `ssd model ...` against the independent Python
// reference in tests/reference/hf_reference.py (run by /usr/bin/python3 with
// Debian's python3-torch): logits parity for every architecture, greedy
// KV-cache generation against full recomputation, checkpoint compatibility in
// both directions, and clear failures on bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

constexpr char kPython[] = "/usr/bin/python3";

std::string Reference() { return SourceDir() + "/tests/reference/hf_reference.py"; }

class ModelParityTest : public ::testing::Test {
 protected:
  std::string Run(std::vector<std::string> argv) {
    ProcessResult r = RunProcess(argv);
    EXPECT_EQ(r.signal, 0) << argv[0] << " died with signal " << r.signal << "\n" << r.err;
    EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(argv, " ") << "\nstderr: " << r.err;
    return r.out;
  }
  std::vector<float> Floats(const std::string& json_text) {
    std::vector<float> v;
    nlohmann::json j = nlohmann::json::parse(json_text);
    for (const auto& x : j) v.push_back(x.get<float>());
    return v;
  }
  std::string SsdInit(const std::string& arch, const std::vector<std::string>& extra = {}) {
    std::string out = dir_ + "/ssd_" + arch + std::to_string(counter_++);
    std::vector<std::string> argv = {SsdBinary(), "model",
                                     "init",      "--arch",
                                     arch,        "--out",
                                     out,         "--vocab",
                                     "256",       "--hidden",
                                     "64",        "--layers",
                                     "2",         "--heads",
                                     "4",         "--kv-heads",
                                     "2",         "--head-dim",
                                     "16",        "--intermediate",
                                     "128",       "--init-std",
                                     "0.2",       "--seed",
                                     "11",        "--original-max-position-embeddings",
                                     "32"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Run(argv);
    return out;
  }
  // Compares last-position logits of ssd and the reference; returns max |diff|.
  double LogitsDiff(const std::string& model, const std::string& ids) {
    auto ours = Floats(Run({SsdBinary(), "model", "logits", "--model", model, "--ids", ids}));
    auto ref = Floats(Run({kPython, Reference(), "logits", "--model", model, "--ids", ids}));
    EXPECT_EQ(ours.size(), ref.size());
    double worst = 0, scale = 0;
    for (size_t i = 0; i < std::min(ours.size(), ref.size()); ++i) {
      worst = std::max(worst, std::fabs(static_cast<double>(ours[i]) - ref[i]));
      scale = std::max(scale, std::fabs(static_cast<double>(ref[i])));
    }
    EXPECT_GT(scale, 0.5) << "logits too small for a 1e-4 tolerance to mean anything";
    return worst;
  }
  static std::string Ids(int n, int mul = 7) {
    std::vector<int> v;
    for (int i = 0; i < n; ++i) v.push_back((i * mul + 3) % 256);
    return absl::StrJoin(v, ",");
  }

  ScopedTempDir tmp_{"ssd_model_parity"};
  std::string dir_ = tmp_.path();
  int counter_ = 0;
};

// Prompts of 3 and 80 tokens; 80 is past llama3's original context of 32.
TEST_F(ModelParityTest, Qwen3TiedEmbeddingsLogitsMatchReference) {
  std::string m = SsdInit("qwen3");
  EXPECT_LT(LogitsDiff(m, "5,17,200"), 1e-4);
  EXPECT_LT(LogitsDiff(m, Ids(80)), 1e-4);
}

TEST_F(ModelParityTest, Qwen2BiasesUntiedLogitsMatchReference) {
  std::string m = SsdInit("qwen2");
  EXPECT_LT(LogitsDiff(m, "5,17,200"), 1e-4);
  EXPECT_LT(LogitsDiff(m, Ids(80)), 1e-4);
}

TEST_F(ModelParityTest, Llama3RopeScalingLogitsMatchReferencePastOriginalContext) {
  std::string m = SsdInit("llama3");
  EXPECT_LT(LogitsDiff(m, "5,17,200"), 1e-4);
  EXPECT_LT(LogitsDiff(m, Ids(80)), 1e-4);
  EXPECT_LT(LogitsDiff(m, Ids(150, 13)), 1e-4);
}

TEST_F(ModelParityTest, Qwen3WithAttentionBiasMatchesReference) {
  std::string m = SsdInit("qwen3", {"--attention-bias", "--tie", "false"});
  EXPECT_LT(LogitsDiff(m, Ids(40)), 1e-4);
}

// Qwen3-4B's head_dim (128) is not hidden / heads (80): q_dim != hidden.
TEST_F(ModelParityTest, HeadDimIndependentOfHiddenAndFullMhaMatchReference) {
  std::string m = SsdInit("qwen3", {"--head-dim", "24", "--kv-heads", "4"});
  EXPECT_LT(LogitsDiff(m, Ids(40)), 1e-4);
  std::string l = SsdInit("llama3", {"--heads", "8", "--kv-heads", "1", "--head-dim", "8"});
  EXPECT_LT(LogitsDiff(l, Ids(40)), 1e-4);
}

TEST_F(ModelParityTest, SsdWrittenF16CheckpointLoadsInReference) {
  std::string m = SsdInit("llama3", {"--dtype", "f16"});
  EXPECT_LT(LogitsDiff(m, Ids(40)), 1e-4);
}

TEST_F(ModelParityTest, GreedyKvCacheGenerationEqualsReferenceFullRecompute) {
  for (const char* arch : {"qwen3", "qwen2", "llama3"}) {
    std::string m = SsdInit(arch);
    std::string prompt = Ids(30);  // 30 + 24 new tokens crosses 32
    std::string ours = Run(
        {SsdBinary(), "model", "generate", "--model", m, "--ids", prompt, "--max-new-tokens", "24", "--ignore-eos"});
    std::string ref = Run(
        {kPython, Reference(), "generate", "--model", m, "--ids", prompt, "--max-new-tokens", "24", "--ignore-eos"});
    EXPECT_EQ(nlohmann::json::parse(ours), nlohmann::json::parse(ref)) << arch;
    EXPECT_EQ(nlohmann::json::parse(ours).size(), 24u) << arch;
  }
}

TEST_F(ModelParityTest, GenerationStopsAtConfiguredEos) {
  std::string m = SsdInit("qwen2");
  std::string free_run =
      Run({SsdBinary(), "model", "generate", "--model", m, "--ids", "1,2,3", "--max-new-tokens", "8", "--ignore-eos"});
  auto ids = nlohmann::json::parse(free_run);
  ASSERT_EQ(ids.size(), 8u);
  // Declare the third generated token as EOS: generation must end there.
  std::string eos = std::to_string(ids[2].get<int>());
  std::string m2 = SsdInit("qwen2", {"--eos-id", eos});
  auto stopped = nlohmann::json::parse(
      Run({SsdBinary(), "model", "generate", "--model", m2, "--ids", "1,2,3", "--max-new-tokens", "8"}));
  size_t first = 0;
  while (first < ids.size() && ids[first].get<int>() != ids[2].get<int>()) ++first;
  EXPECT_EQ(stopped.size(), first + 1);
  EXPECT_EQ(stopped.back(), ids[2]);
}

TEST_F(ModelParityTest, SsdWrittenBf16TwoShardCheckpointLoadsInReference) {
  std::string m = SsdInit("qwen2", {"--dtype", "bf16", "--max-shard-bytes", "150000"});
  std::ifstream idx(m + "/model.safetensors.index.json");
  ASSERT_TRUE(idx.good()) << "expected a sharded checkpoint";
  auto j = nlohmann::json::parse(idx);
  std::set<std::string> shards;
  for (auto& [k, v] : j["weight_map"].items()) shards.insert(v.get<std::string>());
  EXPECT_EQ(shards.size(), 2u);
  EXPECT_LT(LogitsDiff(m, Ids(40)), 1e-4);
}

TEST_F(ModelParityTest, ReferenceWrittenBf16TwoShardCheckpointLoadsInSsd) {
  for (const char* arch : {"qwen3", "llama3"}) {
    std::string m = dir_ + "/py_" + arch;
    Run({kPython, Reference(), "init", "--arch", arch, "--out", m, "--dtype", "bf16", "--shards", "2"});
    EXPECT_LT(LogitsDiff(m, Ids(60)), 1e-4) << arch;
  }
}

TEST_F(ModelParityTest, ReferenceWrittenF32CheckpointLoadsInSsd) {
  std::string m = dir_ + "/py_f32";
  Run({kPython, Reference(), "init", "--arch", "qwen2", "--out", m});
  EXPECT_LT(LogitsDiff(m, Ids(20)), 1e-4);
}

TEST_F(ModelParityTest, InfoReportsArchitectureParametersAndDtype) {
  std::string m = SsdInit("qwen3", {"--dtype", "bf16"});
  auto info = nlohmann::json::parse(Run({SsdBinary(), "model", "info", "--model", m, "--json"}));
  EXPECT_EQ(info["model_type"], "qwen3");
  EXPECT_EQ(info["dtype"], "BF16");
  // embed 256*64 (tied) + 2 layers * (attn 64*64*2 + 64*32*2 + norms 64*2 + qk 16*2
  // + mlp 3*64*128) + final norm 64
  const int64_t per_layer = 64 * 64 * 2 + 64 * 32 * 2 + 2 * 64 + 2 * 16 + 3 * 64 * 128;
  EXPECT_EQ(info["parameters"].get<int64_t>(), 256 * 64 + 2 * per_layer + 64);
  std::string text = Run({SsdBinary(), "model", "info", "--model", m});
  EXPECT_NE(text.find("qwen3"), std::string::npos);
  EXPECT_NE(text.find("BF16"), std::string::npos);
}

TEST_F(ModelParityTest, OutOfVocabIdIsAClearUsageError) {
  std::string m = SsdInit("qwen3");
  ProcessResult r = RunProcess({SsdBinary(), "model", "logits", "--model", m, "--ids", "1,999"});
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("element 1 = 999"), std::string::npos) << r.err;
}

TEST_F(ModelParityTest, CorruptWeightsFailCleanlyNamingTheFile) {
  std::string m = SsdInit("qwen3");
  std::string path = m + "/model.safetensors";
  // Truncate the weights to half: a crash or garbage load is a failure.
  ProcessResult size = RunProcess({"stat", "-c", "%s", path});
  ASSERT_EQ(size.exit_code, 0);
  RunProcess({"truncate", "-s", std::to_string(std::stol(size.out) / 2), path});
  ProcessResult r = RunProcess({SsdBinary(), "model", "logits", "--model", m, "--ids", "1,2"});
  EXPECT_EQ(r.signal, 0) << "ssd crashed on a truncated file";
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

TEST_F(ModelParityTest, MissingModelFolderIsNamed) {
  ProcessResult r = RunProcess({SsdBinary(), "model", "info", "--model", dir_ + "/nope"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(dir_ + "/nope/config.json"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ssd
