#include "trainer_worker/memory_plan.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/model/model_config.h"
#include "common/util/file_util.h"

namespace ssd {
namespace {

ModelConfig Shipped(const std::string& name) {
  const char* src = std::getenv("SSD_SOURCE_DIR");
  const std::string root = src != nullptr ? src : ".";
  auto text = ReadFileToString(root + "/deploy/examples/configs/" + name + "/config.json", 1 << 20);
  EXPECT_TRUE(text.ok()) << text.status();
  auto c = ParseModelConfig(text.ok() ? *text : "{}", name);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : ModelConfig{};
}

MemoryPlanOptions Paper(ShardingMode mode) {
  MemoryPlanOptions o;
  o.world_size = 8;
  o.sharding = mode;
  o.max_seq_len = 65536;
  o.micro_batch_tokens = 65536;
  o.activation_checkpointing.every = 1;
  o.dtype = "bf16";
  o.device = "cuda";
  o.device_memory_gib = 80;
  return o;
}

TEST(MemoryPlanTest, ParameterCountsOfThePapersModelsMatchTheirPublishedSizesAndTheConfigsOwnCount) {
  const ModelConfig qwen = Shipped("qwen3-4b-instruct-2507");
  const ModelConfig llama = Shipped("llama-3.1-8b-instruct");
  EXPECT_EQ(CountParameters(qwen).total, qwen.NumParameters());
  EXPECT_EQ(CountParameters(llama).total, llama.NumParameters());
  EXPECT_NEAR(CountParameters(qwen).total / 1e9, 4.02, 0.005);
  EXPECT_EQ(CountParameters(llama).total, 8030261248);  // Llama-3.1-8B's model card
}

TEST(MemoryPlanTest, Qwen3_30B_A3BCountsItsTotalAndActiveParametersAndShardsItsExperts) {
  const ModelConfig moe = Shipped("qwen3-30b-a3b-instruct-2507");
  const ParameterCounts p = CountParameters(moe);
  EXPECT_EQ(p.total, moe.NumParameters());
  EXPECT_EQ(p.active, moe.NumActiveParameters());
  EXPECT_NEAR(p.total / 1e9, 30.53, 0.005);
  EXPECT_NEAR(p.active / 1e9, 3.35, 0.005);
  // Model state follows the total: 20 bytes a parameter unsharded (610 GB),
  // 20/d fully sharded plus the root's gradients whole.
  MemoryPlan none = PlanMemory(moe, Paper(ShardingMode::kNone)).value();
  EXPECT_NEAR(static_cast<double>(none.parameters + none.gradients + none.optimizer) / p.total, 20.0, 1e-9);
  EXPECT_FALSE(none.fits);
  MemoryPlan full = PlanMemory(moe, Paper(ShardingMode::kFull)).value();
  const double root = static_cast<double>(p.root) / p.total;
  EXPECT_NEAR(static_cast<double>(full.parameters + full.gradients + full.optimizer) / p.total,
              20.0 / 8 + 4 * root * (1 - 1.0 / 8), 1e-3);
  const std::string text = MemoryPlanText(moe, Paper(ShardingMode::kFull), full);
  EXPECT_NE(text.find("30.53 B parameters, 3.35 B active a token (48 of 48 layers with 128 experts, top-8)"),
            std::string::npos)
      << text;
  EXPECT_NE(MemoryPlanJson(moe, Paper(ShardingMode::kFull), full).find("\"active\": 3353032704"), std::string::npos);
}

TEST(MemoryPlanTest, ModelStatePerParameterFollowsEachModesFormula) {
  const ModelConfig qwen = Shipped("qwen3-4b-instruct-2507");
  const double p = static_cast<double>(CountParameters(qwen).total);
  auto state = [&](ShardingMode mode, int d) {
    MemoryPlanOptions o = Paper(mode);
    o.world_size = d;
    MemoryPlan m = PlanMemory(qwen, o).value();
    return static_cast<double>(m.parameters + m.gradients + m.optimizer) / p;
  };
  EXPECT_NEAR(state(ShardingMode::kNone, 8), 20.0, 1e-9);
  EXPECT_NEAR(state(ShardingMode::kOptimizer, 8), 8 + 12.0 / 8, 1e-3);
  // gradients and full keep the root's gradients whole (a tenth of Qwen3-4B).
  const double root = static_cast<double>(CountParameters(qwen).root) / p;
  EXPECT_NEAR(state(ShardingMode::kGradients, 8), 4 + 16.0 / 8 + 4 * root * (1 - 1.0 / 8), 1e-3);
  EXPECT_NEAR(state(ShardingMode::kFull, 8), 20.0 / 8 + 4 * root * (1 - 1.0 / 8), 1e-3);
  MemoryPlan full = PlanMemory(qwen, Paper(ShardingMode::kFull)).value();
  EXPECT_NEAR(full.reference_model_state / p, 16.0 / 8, 1e-9);
}

TEST(MemoryPlanTest, Qwen3FourBAt65536TokensFitsEightyGibFullyShardedButNotUnsharded) {
  const ModelConfig qwen = Shipped("qwen3-4b-instruct-2507");
  MemoryPlan full = PlanMemory(qwen, Paper(ShardingMode::kFull)).value();
  EXPECT_TRUE(full.judged);
  EXPECT_TRUE(full.fits) << MemoryPlanText(qwen, Paper(ShardingMode::kFull), full);
  MemoryPlan none = PlanMemory(qwen, Paper(ShardingMode::kNone)).value();
  EXPECT_FALSE(none.fits);
  ASSERT_FALSE(none.advice.empty());
  EXPECT_NE(none.advice[0].find("sharding: full"), std::string::npos);
  const std::string json = MemoryPlanJson(qwen, Paper(ShardingMode::kNone), none);
  for (const char* key : {"\"per_rank_bytes\"", "\"parameters\"", "\"gradients\"", "\"optimizer\"", "\"activations\"",
                          "\"total\"", "\"fits\": false"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
  }
}

TEST(MemoryPlanTest, BadOptionsNameTheirFlag) {
  MemoryPlanOptions o;
  o.max_seq_len = 4096;
  o.micro_batch_tokens = 5000;
  auto p = PlanMemory(Shipped("qwen3-4b-instruct-2507"), o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("--micro-batch-tokens"), std::string::npos) << p.status();
  o.micro_batch_tokens = 4096;
  o.dtype = "fp8";
  p = PlanMemory(Shipped("qwen3-4b-instruct-2507"), o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("--dtype"), std::string::npos) << p.status();
}

}  // namespace
}  // namespace ssd
