#include "common/model/model_config.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/util/file_util.h"

namespace ssd {
namespace {

std::string Fixture(const std::string& name) {
  const char* src = std::getenv("SSD_SOURCE_DIR");
  return JoinPath(src ? src : ".", "tests/fixtures/configs/" + name);
}

absl::StatusOr<ModelConfig> ParseFixture(const std::string& name) {
  auto text = ReadFileToString(Fixture(name));
  if (!text.ok()) return text.status();
  return ParseModelConfig(*text, name);
}

TEST(ModelConfigTest, PublishedQwen3_4BInstruct2507Parses) {
  auto c = ParseFixture("qwen3-4b-instruct-2507.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->arch, ModelArch::kQwen3);
  EXPECT_EQ(c->hidden_size, 2560);
  EXPECT_EQ(c->head_dim, 128);  // explicit, not hidden/heads (=80)
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_TRUE(c->qk_norm());
  EXPECT_FALSE(c->qkv_bias());
  EXPECT_DOUBLE_EQ(c->rope_theta, 5e6);  // written as a JSON integer
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kNone);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{151645});
  // Published size: 4.02B parameters.
  EXPECT_NEAR(c->NumParameters() / 1e9, 4.02, 0.01);
}

TEST(ModelConfigTest, PublishedQwen25Coder7BInstructParses) {
  auto c = ParseFixture("qwen2.5-coder-7b-instruct.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->arch, ModelArch::kQwen2);
  EXPECT_EQ(c->head_dim, 128);  // 3584 / 28
  EXPECT_TRUE(c->qkv_bias());
  EXPECT_FALSE(c->o_bias());
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_NEAR(c->NumParameters() / 1e9, 7.62, 0.01);
}

TEST(ModelConfigTest, PublishedLlama31_8BInstructParses) {
  auto c = ParseFixture("llama-3.1-8b-instruct.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->arch, ModelArch::kLlama);
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_NEAR(c->NumParameters() / 1e9, 8.03, 0.01);
}

TEST(ModelConfigTest, SerialisedConfigParsesBackEqual) {
  auto c = ParseFixture("llama-3.1-8b-instruct.json");
  ASSERT_TRUE(c.ok());
  auto again = ParseModelConfig(ModelConfigToJson(*c));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->hidden_size, c->hidden_size);
  EXPECT_EQ(again->rope_scaling.type, c->rope_scaling.type);
  EXPECT_EQ(again->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(again->eos_token_ids, c->eos_token_ids);
  EXPECT_EQ(again->NumParameters(), c->NumParameters());
}

const char* kMinimal = R"({"model_type":"qwen3","vocab_size":32,"hidden_size":16,
  "intermediate_size":32,"num_hidden_layers":1,"num_attention_heads":2%s})";

std::string WithExtra(const std::string& extra) {
  char buf[1024];
  std::snprintf(buf, sizeof(buf), kMinimal, extra.c_str());
  return buf;
}

void ExpectRejected(const std::string& json, const std::string& needle) {
  auto c = ParseModelConfig(json, "cfg.json");
  ASSERT_FALSE(c.ok()) << "accepted: " << json;
  EXPECT_NE(c.status().message().find(needle), std::string::npos)
      << "message \"" << c.status().message() << "\" does not mention \"" << needle << "\"";
  EXPECT_NE(c.status().message().find("cfg.json"), std::string::npos) << c.status().message();
}

TEST(ModelConfigTest, MinimalConfigUsesDocumentedDefaults) {
  auto c = ParseModelConfig(WithExtra(""));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_EQ(c->head_dim, 8);
}

TEST(ModelConfigTest, UnknownRopeScalingTypeIsRejected) {
  ExpectRejected(WithExtra(R"(,"rope_scaling":{"type":"yarn","factor":4.0})"), "yarn");
}

TEST(ModelConfigTest, DefaultRopeScalingTypeMeansNoScaling) {
  auto c = ParseModelConfig(WithExtra(R"(,"rope_scaling":{"rope_type":"default"})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kNone);
}

TEST(ModelConfigTest, SlidingWindowAttentionIsRejected) {
  ExpectRejected(WithExtra(R"(,"use_sliding_window":true,"sliding_window":4096)"), "use_sliding_window");
}

TEST(ModelConfigTest, NonSiluActivationIsRejected) { ExpectRejected(WithExtra(R"(,"hidden_act":"gelu")"), "gelu"); }

TEST(ModelConfigTest, UnknownModelTypeIsRejected) {
  ExpectRejected(R"({"model_type":"mistral","vocab_size":32})", "mistral");
}

TEST(ModelConfigTest, MalformedJsonNamesTheByteOffset) {
  ExpectRejected(R"({"model_type": "qwen3", "vocab_size": })", "byte");
}

TEST(ModelConfigTest, WrongFieldTypeNamesTheField) {
  ExpectRejected(WithExtra(R"(,"num_key_value_heads":"two")"), "num_key_value_heads");
}

TEST(ModelConfigTest, MissingRequiredFieldNamesTheField) {
  ExpectRejected(R"({"model_type":"llama","vocab_size":32,"hidden_size":16})", "intermediate_size");
}

TEST(ModelConfigTest, KvHeadsThatDoNotDivideHeadsAreRejected) {
  ExpectRejected(WithExtra(R"(,"num_key_value_heads":3)"), "num_key_value_heads");
}

TEST(ModelConfigTest, NegativeSizeIsRejected) {
  ExpectRejected(R"({"model_type":"qwen2","vocab_size":-5,"hidden_size":16,
    "intermediate_size":32,"num_hidden_layers":1,"num_attention_heads":2})",
                 "vocab_size");
}

TEST(ModelConfigTest, EosIdOutsideVocabIsRejected) {
  ExpectRejected(WithExtra(R"(,"eos_token_id":[1,99])"), "eos_token_id");
}

TEST(ModelConfigTest, TopLevelArrayIsRejected) { ExpectRejected("[1,2]", "object"); }

TEST(ModelConfigTest, Llama3ScalingNeedsItsParameters) {
  ExpectRejected(WithExtra(R"(,"rope_scaling":{"rope_type":"llama3","factor":8.0})"), "low_freq_factor");
}

TEST(ModelConfigTest, ANumberOutOfRangeIsAnErrorNotAnUncaughtException) {
  // Found by tests/fuzz (model_config): nlohmann throws out_of_range, not
  // parse_error, for a number it cannot hold.
  auto c = ParseModelConfig(R"({"hidden_size": 1e999})", "big/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("big/config.json: not valid JSON"), std::string::npos) << c.status();
}

// qwen3_moe: the published 30B file and the MoE fields.

TEST(ModelConfigTest, PublishedQwen3_30B_A3BInstruct2507ParsesWithItsOwnNormTopkProb) {
  auto c = ParseFixture("qwen3-30b-a3b-instruct-2507.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->arch, ModelArch::kQwen3Moe);
  EXPECT_TRUE(c->qk_norm());
  EXPECT_EQ(c->moe.num_experts, 128);
  EXPECT_EQ(c->moe.num_experts_per_tok, 8);
  EXPECT_EQ(c->moe.moe_intermediate_size, 768);
  EXPECT_TRUE(c->moe.norm_topk_prob);  // the file's true, not the library's default false
  EXPECT_FALSE(c->moe.output_router_logits);
  EXPECT_DOUBLE_EQ(c->moe.router_aux_loss_coef, 0.001);
  EXPECT_EQ(c->num_moe_layers(), 48);
  // Published: 30.5B total, 3.3B activated.
  EXPECT_NEAR(c->NumParameters() / 1e9, 30.53, 0.005);
  EXPECT_NEAR(c->NumActiveParameters() / 1e9, 3.35, 0.005);
}

const char* kMoe = R"({"model_type":"qwen3_moe","vocab_size":32,"hidden_size":16,
  "intermediate_size":32,"num_hidden_layers":4,"num_attention_heads":2,"num_experts":8,
  "num_experts_per_tok":2,"moe_intermediate_size":12%s})";

std::string MoeWith(const std::string& extra) {
  char buf[1024];
  std::snprintf(buf, sizeof(buf), kMoe, extra.c_str());
  return buf;
}

TEST(ModelConfigTest, MoeFieldsLeftOutTakeTransformersDefaults) {
  auto c = ParseModelConfig(MoeWith(""));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->moe.norm_topk_prob);
  EXPECT_EQ(c->moe.decoder_sparse_step, 1);
  EXPECT_TRUE(c->moe.mlp_only_layers.empty());
  EXPECT_FALSE(c->moe.output_router_logits);
  EXPECT_EQ(c->num_moe_layers(), 4);
}

TEST(ModelConfigTest, MoeLayersFollowSparseStepAndMlpOnlyLayers) {
  auto c = ParseModelConfig(MoeWith(R"(,"decoder_sparse_step":2,"mlp_only_layers":[3])"));
  ASSERT_TRUE(c.ok()) << c.status();
  // (i + 1) % 2 == 0 -> layers 1 and 3; 3 is dense by mlp_only_layers.
  EXPECT_FALSE(c->IsMoeLayer(0));
  EXPECT_TRUE(c->IsMoeLayer(1));
  EXPECT_FALSE(c->IsMoeLayer(2));
  EXPECT_FALSE(c->IsMoeLayer(3));
  EXPECT_EQ(c->num_moe_layers(), 1);
  // One MoE layer: router 8x16 + 8 experts x 3 x 16 x 12; three dense MLPs.
  const int64_t dense_mlp = 3 * 16 * 32, experts = 3 * 16 * 12;
  EXPECT_EQ(c->NumParameters() - c->NumActiveParameters(), 6 * experts);
  ModelConfig dense = *c;
  dense.moe.num_experts = 0;
  EXPECT_EQ(c->NumParameters() - dense.NumParameters(), 8 * 16 + 8 * experts - dense_mlp);
}

TEST(ModelConfigTest, MoeConfigSerialisesAndParsesBackEqual) {
  auto c = ParseModelConfig(MoeWith(R"(,"decoder_sparse_step":2,"mlp_only_layers":[3],"norm_topk_prob":true,
                                     "output_router_logits":true,"router_aux_loss_coef":0.02)"));
  ASSERT_TRUE(c.ok()) << c.status();
  auto again = ParseModelConfig(ModelConfigToJson(*c));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->arch, ModelArch::kQwen3Moe);
  EXPECT_EQ(again->moe.mlp_only_layers, std::vector<int64_t>{3});
  EXPECT_TRUE(again->moe.norm_topk_prob);
  EXPECT_TRUE(again->moe.output_router_logits);
  EXPECT_DOUBLE_EQ(again->moe.router_aux_loss_coef, 0.02);
  EXPECT_EQ(again->NumParameters(), c->NumParameters());
}

TEST(ModelConfigTest, TopKAboveTheNumberOfExpertsIsRejected) {
  ExpectRejected(MoeWith(R"(,"num_experts_per_tok":9)"), "num_experts_per_tok");
}

TEST(ModelConfigTest, UnknownMoeFieldIsRejectedByName) {
  ExpectRejected(MoeWith(R"(,"shared_expert_intermediate_size":64)"), "shared_expert_intermediate_size");
  ExpectRejected(MoeWith(R"(,"router_jitter_noise":0.1)"), "router_jitter_noise");
}

TEST(ModelConfigTest, MlpOnlyLayerOutsideTheModelIsRejected) {
  ExpectRejected(MoeWith(R"(,"mlp_only_layers":[4])"), "mlp_only_layers[0]");
  ExpectRejected(MoeWith(R"(,"mlp_only_layers":"1")"), "mlp_only_layers");
}

TEST(ModelConfigTest, NegativeAuxLossCoefficientIsRejected) {
  ExpectRejected(MoeWith(R"(,"router_aux_loss_coef":-1)"), "router_aux_loss_coef");
}

}  // namespace
}  // namespace ssd
