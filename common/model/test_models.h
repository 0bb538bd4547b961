// Small model configs shared by the model tests.
#ifndef SSD_COMMON_MODEL_TEST_MODELS_H_
#define SSD_COMMON_MODEL_TEST_MODELS_H_

#include "common/model/model_config.h"

namespace ssd {

// A tiny config of each architecture. llama3 gets rope_scaling with a small
// original context so tests run past it; qwen3_moe mixes a dense layer with
// two of experts.
inline ModelConfig TinyConfig(ModelArch arch) {
  ModelConfig c;
  c.arch = arch;
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = arch == ModelArch::kQwen3;
  if (arch == ModelArch::kQwen3Moe) {
    // Layer 0 dense (mlp_only_layers), layers 1 and 2 of 8 experts, top-2.
    c.num_hidden_layers = 3;
    c.moe.num_experts = 8;
    c.moe.num_experts_per_tok = 2;
    c.moe.moe_intermediate_size = 24;
    c.moe.norm_topk_prob = true;
    c.moe.mlp_only_layers = {0};
  }
  if (arch == ModelArch::kLlama) {
    c.rope_scaling.type = RopeScaling::Type::kLlama3;
    c.rope_scaling.original_max_position_embeddings = 16;
    c.rms_norm_eps = 1e-5;
  }
  return c;
}

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_TEST_MODELS_H_
