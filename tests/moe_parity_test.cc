// `ssd model ...` on qwen3_moe models against the independent Python
// reference (tests/reference/hf_reference.py, written from transformers'
// Qwen3MoeSparseMoeBlock): logits, greedy generation, both expert layouts
// (per expert and transformers 5's fused), checkpoints written by each side,
// and named errors for bad expert tensors and MoE fields.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

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

// The tiny configs: E = 8, k = 2; every layer MoE with renormalised
// weights, and a 4-layer model with decoder_sparse_step 2 and layer 3 dense
// by mlp_only_layers (so layer 1 alone is MoE) without renormalisation.
const std::vector<std::string> kAllMoe = {"--layers", "2", "--norm-topk-prob", "true"};
const std::vector<std::string> kSparse = {"--layers",          "4", "--norm-topk-prob", "false", "--decoder-sparse-step",
                                          "2",                 "--mlp-only-layers", "3"};

class MoeParityTest : public ::testing::Test {
 protected:
  std::string Run(const std::vector<std::string>& argv) {
    ProcessResult r = RunProcess(argv);
    EXPECT_EQ(r.signal, 0) << argv[0] << " died with signal " << r.signal << "\n" << r.err;
    EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(argv, " ") << "\nstderr: " << r.err;
    return r.out;
  }
  std::string SsdInit(const std::vector<std::string>& extra) {
    std::string out = absl::StrCat(dir_, "/moe", counter_++);
    std::vector<std::string> argv = {SsdBinary(), "model",      "init", "--arch",     "qwen3_moe", "--out",
                                     out,         "--vocab",    "256",  "--hidden",   "64",        "--heads",
                                     "4",         "--kv-heads", "2",    "--head-dim", "16",        "--intermediate",
                                     "96",        "--experts",  "8",    "--experts-per-tok", "2",  "--moe-intermediate",
                                     "32",        "--init-std", "0.2",  "--seed",     "5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Run(argv);
    return out;
  }
  // Runs Python with the reference's helpers imported as `r`.
  void Python(const std::string& script) {
    Run({kPython, "-c", absl::StrCat("import sys; sys.path.insert(0, '", SourceDir(), "/tests/reference')\n",
                                     "import hf_reference as r, json, torch\n", script)});
  }
  static std::vector<double> Floats(const std::string& text) { return nlohmann::json::parse(text); }
  std::string SsdLogits(const std::string& model, const std::string& ids) {
    return Run({SsdBinary(), "model", "logits", "--model", model, "--ids", ids});
  }
  double LogitsDiff(const std::string& model, const std::string& ids) {
    auto ours = Floats(SsdLogits(model, ids));
    auto ref = Floats(Run({kPython, Reference(), "logits", "--model", model, "--ids", ids}));
    EXPECT_EQ(ours.size(), ref.size());
    double worst = 0, scale = 0;
    for (size_t i = 0; i < std::min(ours.size(), ref.size()); ++i) {
      worst = std::max(worst, std::fabs(ours[i] - ref[i]));
      scale = std::max(scale, std::fabs(ref[i]));
    }
    EXPECT_GT(scale, 0.5) << "logits too small for a 1e-4 tolerance to mean anything";
    return worst;
  }
  ProcessResult LoadFails(const std::string& model) {
    ProcessResult r = RunProcess({SsdBinary(), "model", "logits", "--model", model, "--ids", "1,2"});
    EXPECT_EQ(r.signal, 0) << "ssd crashed:\n" << r.err;
    EXPECT_NE(r.exit_code, 0) << "a bad MoE checkpoint loaded";
    return r;
  }
  static std::string Ids(int n, int mul = 7) {
    std::vector<int> v;
    for (int i = 0; i < n; ++i) v.push_back((i * mul + 3) % 256);
    return absl::StrJoin(v, ",");
  }

  ScopedTempDir tmp_{"ssd_moe_parity"};
  std::string dir_ = tmp_.path();
  int counter_ = 0;
};

TEST_F(MoeParityTest, RenormalisedTopKLogitsMatchReference) {
  std::string m = SsdInit(kAllMoe);
  EXPECT_LT(LogitsDiff(m, "5,17,200"), 1e-4);
  EXPECT_LT(LogitsDiff(m, Ids(60)), 1e-4);
}

TEST_F(MoeParityTest, SparseStepAndMlpOnlyLayersWithoutRenormalisationMatchReference) {
  std::string m = SsdInit(kSparse);
  EXPECT_LT(LogitsDiff(m, "5,17,200"), 1e-4);
  EXPECT_LT(LogitsDiff(m, Ids(60)), 1e-4);
}

TEST_F(MoeParityTest, GreedyKvCacheGenerationEqualsReferenceFullRecompute) {
  for (const auto& flags : {kAllMoe, kSparse}) {
    std::string m = SsdInit(flags);
    std::string prompt = Ids(20);
    std::string ours = Run(
        {SsdBinary(), "model", "generate", "--model", m, "--ids", prompt, "--max-new-tokens", "24", "--ignore-eos"});
    std::string ref = Run(
        {kPython, Reference(), "generate", "--model", m, "--ids", prompt, "--max-new-tokens", "24", "--ignore-eos"});
    EXPECT_EQ(nlohmann::json::parse(ours), nlohmann::json::parse(ref)) << absl::StrJoin(flags, " ");
    EXPECT_EQ(nlohmann::json::parse(ours).size(), 24u);
  }
}

TEST_F(MoeParityTest, FusedExpertLayoutGivesIdenticalLogits) {
  std::string m = SsdInit(kSparse);
  // transformers 5's fused tensors, written by the reference.
  std::string fused = dir_ + "/fused";
  Run({kPython, Reference(), "fuse-experts", "--model", m, "--out", fused});
  EXPECT_EQ(SsdLogits(fused, Ids(30)), SsdLogits(m, Ids(30)));
  // ... and by ssd itself; the reference reads that too.
  std::string converted = dir_ + "/converted";
  Run({SsdBinary(), "model", "convert", "--model", m, "--out", converted, "--dtype", "f32", "--expert-layout",
       "fused"});
  std::ifstream idx(converted + "/model.safetensors");
  ASSERT_TRUE(idx.good());
  EXPECT_EQ(SsdLogits(converted, Ids(30)), SsdLogits(m, Ids(30)));
  EXPECT_LT(LogitsDiff(converted, Ids(30)), 1e-4);
  // Back to per-expert names: bitwise the original's weights file.
  std::string back = dir_ + "/back";
  Run({SsdBinary(), "model", "convert", "--model", converted, "--out", back, "--dtype", "f32"});
  EXPECT_EQ(SsdLogits(back, Ids(30)), SsdLogits(m, Ids(30)));
}

TEST_F(MoeParityTest, ReferenceWrittenBf16MoeCheckpointLoadsInSsd) {
  std::string m = dir_ + "/py_moe";
  Run({kPython, Reference(), "init", "--arch", "qwen3_moe", "--out", m, "--dtype", "bf16", "--shards", "2",
       "--layers", "3", "--sparse-step", "1", "--mlp-only-layers", "0"});
  EXPECT_LT(LogitsDiff(m, Ids(40)), 1e-4);
}

TEST_F(MoeParityTest, InfoReportsTotalAndActiveParameters) {
  std::string m = SsdInit(kSparse);
  auto info = nlohmann::json::parse(Run({SsdBinary(), "model", "info", "--model", m, "--json"}));
  EXPECT_EQ(info["model_type"], "qwen3_moe");
  EXPECT_EQ(info["moe_layers"], 1);
  // One MoE layer of 8 experts, 2 active: 6 experts' 3 x 64 x 32 are idle.
  EXPECT_EQ(info["parameters"].get<int64_t>() - info["active_parameters"].get<int64_t>(), 6 * 3 * 64 * 32);
  EXPECT_NE(Run({SsdBinary(), "model", "info", "--model", m}).find("active per token"), std::string::npos);
}

TEST_F(MoeParityTest, MissingExpertTensorIsNamed) {
  std::string m = SsdInit(kAllMoe);
  Python(absl::StrCat("p = '", m, "/model.safetensors'\nw = r.read_safetensors(p)\n",
                      "del w['model.layers.1.mlp.experts.5.up_proj.weight']\n",
                      "r.write_safetensors(p, w, torch.float32)\n"));
  ProcessResult r = LoadFails(m);
  EXPECT_NE(r.err.find("model.layers.1.mlp.experts.5.up_proj.weight"), std::string::npos) << r.err;
}

TEST_F(MoeParityTest, WrongExpertShapeIsNamed) {
  std::string m = SsdInit(kAllMoe);
  Python(absl::StrCat("p = '", m, "/model.safetensors'\nw = r.read_safetensors(p)\n",
                      "w['model.layers.0.mlp.experts.2.down_proj.weight'] = torch.zeros(64, 31)\n",
                      "r.write_safetensors(p, w, torch.float32)\n"));
  ProcessResult r = LoadFails(m);
  EXPECT_NE(r.err.find("model.layers.0.mlp.experts.2.down_proj.weight"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[64, 31]"), std::string::npos) << r.err;
}

TEST_F(MoeParityTest, FusedTensorWhoseFirstDimensionIsNotTheExpertCountIsNamed) {
  std::string m = SsdInit(kAllMoe);
  std::string fused = dir_ + "/fused_bad";
  Run({kPython, Reference(), "fuse-experts", "--model", m, "--out", fused});
  Python(absl::StrCat("p = '", fused, "/model.safetensors'\nw = r.read_safetensors(p)\n",
                      "n = 'model.layers.1.mlp.experts.gate_up_proj'\nw[n] = w[n][:7].clone()\n",
                      "r.write_safetensors(p, w, torch.float32)\n"));
  ProcessResult r = LoadFails(fused);
  EXPECT_NE(r.err.find("model.layers.1.mlp.experts.gate_up_proj"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("num_experts = 8"), std::string::npos) << r.err;
}

TEST_F(MoeParityTest, TopKAboveExpertCountAndUnknownMoeFieldAreNamed) {
  std::string m = SsdInit(kAllMoe);
  auto edit = [&](const std::string& key, const std::string& value) {
    Python(absl::StrCat("p = '", m, "/config.json'\nc = json.load(open(p))\nc['", key, "'] = ", value,
                        "\njson.dump(c, open(p, 'w'))\n"));
  };
  edit("num_experts_per_tok", "9");
  ProcessResult r = LoadFails(m);
  EXPECT_NE(r.err.find("num_experts_per_tok"), std::string::npos) << r.err;
  edit("num_experts_per_tok", "2");
  edit("shared_expert_intermediate_size", "128");
  r = LoadFails(m);
  EXPECT_NE(r.err.find("shared_expert_intermediate_size"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ssd
