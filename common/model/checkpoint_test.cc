#include "common/model/checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "common/model/checkpoint_files.h"
#include "common/model/decoder.h"
#include "common/model/test_models.h"
#include "common/util/file_util.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = TinyConfig(ModelArch::kQwen2);
    auto m = Decoder::RandomInit(config_, 3, 0.3);
    ASSERT_TRUE(m.ok());
    model_ = std::move(*m);
  }

  std::string Save(const std::string& name, const SaveOptions& opts) {
    std::string d = JoinPath(dir_, name);
    absl::Status st = SaveHfCheckpoint(d, config_, model_->HfNamedTensors(), opts);
    EXPECT_TRUE(st.ok()) << st;
    return d;
  }

  void ExpectLoadError(const std::string& d, std::initializer_list<const char*> needles) {
    auto m = Decoder::Load(d);
    ASSERT_FALSE(m.ok()) << "bad checkpoint " << d << " loaded";
    std::string msg(m.status().message());
    for (const char* n : needles) {
      EXPECT_NE(msg.find(n), std::string::npos) << "error \"" << msg << "\" lacks \"" << n << "\"";
    }
  }

  ScopedTempDir tmp_{"ssd_checkpoint_test"};
  std::string dir_ = tmp_.path();
  ModelConfig config_;
  std::unique_ptr<Decoder> model_;
  at::NoGradGuard no_grad_;
};

TEST_F(CheckpointTest, Float32RoundTripIsBitExact) {
  std::string d = Save("f32", {});
  auto loaded = Decoder::Load(d);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  at::Tensor ids = at::arange(10, at::kLong).view({1, 10});
  EXPECT_TRUE(at::equal(model_->Forward(ids), (*loaded)->Forward(ids)));
}

TEST_F(CheckpointTest, Bf16RoundTripEqualsBf16RoundedWeights) {
  SaveOptions opts;
  opts.dtype = DType::kBF16;
  std::string d = Save("bf16", opts);
  auto files = CheckpointFiles::Open(d);
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->files()[0]->tensors()[0].dtype, DType::kBF16);
  auto weights = LoadHfWeights(d, config_, at::kFloat, at::kCPU);
  ASSERT_TRUE(weights.ok()) << weights.status();
  for (const auto& [name, t] : model_->HfNamedTensors()) {
    EXPECT_TRUE(at::equal(weights->at(name), t.to(at::kBFloat16).to(at::kFloat))) << name;
  }
}

TEST_F(CheckpointTest, TwoShardIndexLoadsTheSameModel) {
  SaveOptions opts;
  opts.max_shard_bytes = static_cast<uint64_t>(config_.NumParameters()) * 4 / 2 + 64;
  std::string d = Save("sharded", opts);
  EXPECT_TRUE(PathExists(JoinPath(d, "model-00001-of-00002.safetensors")));
  EXPECT_TRUE(PathExists(JoinPath(d, "model-00002-of-00002.safetensors")));
  EXPECT_FALSE(PathExists(JoinPath(d, "model.safetensors")));
  auto loaded = Decoder::Load(d);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  at::Tensor ids = at::arange(10, at::kLong).view({1, 10});
  EXPECT_TRUE(at::equal(model_->Forward(ids), (*loaded)->Forward(ids)));
}

TEST_F(CheckpointTest, MissingTensorIsNamed) {
  std::string d = JoinPath(dir_, "missing");
  NamedTensors some = model_->HfNamedTensors();
  some.erase(some.begin() + 3);  // a layer-0 tensor
  std::string dropped = model_->HfNamedTensors()[3].first;
  ASSERT_TRUE(SaveHfCheckpoint(d, config_, some, {}).ok());
  ExpectLoadError(d, {"missing tensor", dropped.c_str()});
}

TEST_F(CheckpointTest, ShapeMismatchWithConfigIsNamed) {
  std::string d = Save("shape", {});
  ModelConfig wrong = config_;
  wrong.intermediate_size = 64;
  ASSERT_TRUE(WriteFileAtomically(JoinPath(d, "config.json"), ModelConfigToJson(wrong)).ok());
  ExpectLoadError(d, {"mlp.gate_proj.weight", "[48, 32]", "[64, 32]"});
}

TEST_F(CheckpointTest, CheckpointOfAnotherArchitectureIsRejected) {
  std::string d = Save("arch", {});
  ModelConfig as_qwen3 = config_;
  as_qwen3.arch = ModelArch::kQwen3;
  ASSERT_TRUE(WriteFileAtomically(JoinPath(d, "config.json"), ModelConfigToJson(as_qwen3)).ok());
  ExpectLoadError(d, {"missing tensor", "q_norm", "qwen3"});
}

TEST_F(CheckpointTest, IntegerWeightsAreRejected) {
  std::string d = JoinPath(dir_, "int");
  ASSERT_TRUE(MakeDirs(d).ok());
  ASSERT_TRUE(WriteFileAtomically(JoinPath(d, "config.json"), ModelConfigToJson(config_)).ok());
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> tw;
  for (const auto& [name, t] : model_->HfNamedTensors()) {
    at::Tensor c = name == "model.norm.weight" ? t.to(at::kInt).contiguous() : t.contiguous();
    tw.push_back({name, name == "model.norm.weight" ? DType::kI32 : DType::kF32, c.sizes().vec(), c.data_ptr()});
    keep.push_back(c);
  }
  ASSERT_TRUE(WriteSafetensors(JoinPath(d, "model.safetensors"), tw).ok());
  ExpectLoadError(d, {"model.norm.weight", "I32"});
}

TEST_F(CheckpointTest, MalformedConfigJsonIsRejected) {
  std::string d = Save("badcfg", {});
  std::ofstream(JoinPath(d, "config.json"), std::ios::trunc) << "{\"model_type\": \"qwen2\",";
  ExpectLoadError(d, {"config.json", "not valid JSON"});
}

TEST_F(CheckpointTest, EmptyFolderSaysWhatIsMissing) {
  std::string d = JoinPath(dir_, "empty");
  ASSERT_TRUE(MakeDirs(d).ok());
  ASSERT_TRUE(WriteFileAtomically(JoinPath(d, "config.json"), ModelConfigToJson(config_)).ok());
  ExpectLoadError(d, {"model.safetensors"});
}

class ShardIndexTest : public CheckpointTest {
 protected:
  std::string SavedShards() {
    SaveOptions opts;
    opts.max_shard_bytes = static_cast<uint64_t>(config_.NumParameters()) * 2 + 64;
    return Save("idx", opts);
  }
  void RewriteIndex(const std::string& d, const std::function<void(nlohmann::json&)>& edit) {
    std::string p = JoinPath(d, "model.safetensors.index.json");
    nlohmann::json j = nlohmann::json::parse(*ReadFileToString(p));
    edit(j);
    ASSERT_TRUE(WriteFileAtomically(p, j.dump()).ok());
  }
};

TEST_F(ShardIndexTest, PathTraversalInShardNameIsRejected) {
  std::string d = SavedShards();
  RewriteIndex(d, [](nlohmann::json& j) { j["weight_map"]["model.norm.weight"] = "../../etc/passwd"; });
  ExpectLoadError(d, {"model.norm.weight", "not a plain file name"});
}

TEST_F(ShardIndexTest, IndexPointingAtTheWrongShardIsRejected) {
  std::string d = SavedShards();
  RewriteIndex(d, [](nlohmann::json& j) { j["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors"; });
  ExpectLoadError(d, {"model.norm.weight", "does not contain it"});
}

TEST_F(ShardIndexTest, MissingShardFileIsNamed) {
  std::string d = SavedShards();
  RewriteIndex(d, [](nlohmann::json& j) { j["weight_map"]["model.norm.weight"] = "model-00009.safetensors"; });
  ExpectLoadError(d, {"model-00009.safetensors"});
}

TEST_F(ShardIndexTest, IndexWithoutWeightMapIsRejected) {
  std::string d = SavedShards();
  RewriteIndex(d, [](nlohmann::json& j) { j.erase("weight_map"); });
  ExpectLoadError(d, {"weight_map"});
}

}  // namespace
}  // namespace ssd
