// ModelConfig: the subset of a Hugging Face `config.json` that determines the
// forward computation of a Qwen3, Qwen2 or Llama-3 decoder.
//
// Parsing accepts the many fields real configs carry that do not change the
// forward (`transformers_version`, `use_cache`, `initializer_range`,
// `sliding_window` when sliding is off, ...). It rejects, with a message that
// names the field, every setting that would change the computation but that
// the runtime does not implement: an unknown `model_type`, a `hidden_act`
// other than silu, `use_sliding_window: true`, a `rope_scaling` type other than
// `llama3`/`default`, `mlp_bias: true`.
//
// Architecture differences the decoder honours:
//   qwen3: per-head RMSNorm on q and k before RoPE; q/k/v/o bias = attention_bias.
//   qwen3_moe: qwen3's attention; the MLP of layer i is a mixture of experts
//     iff IsMoeLayer(i) (decoder.h gives the routing), else qwen3's dense MLP.
//   qwen2: q/k/v always have a bias, o has none.
//   llama: q/k/v/o bias = attention_bias; optional llama3 rope_scaling.
#ifndef SSD_COMMON_MODEL_MODEL_CONFIG_H_
#define SSD_COMMON_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

enum class ModelArch { kQwen3, kQwen2, kLlama, kQwen3Moe };

// "qwen3", "qwen2", "llama", "qwen3_moe".
absl::string_view ModelTypeName(ModelArch arch);

struct RopeScaling {
  enum class Type { kNone, kLlama3 };
  Type type = Type::kNone;
  // llama3 parameters (meaningful only when type == kLlama3).
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

// The mixture-of-experts fields of a qwen3_moe config.json, with
// transformers' defaults for the fields a file leaves out (the file always
// wins: Qwen3-30B-A3B writes norm_topk_prob true, the library's default is
// false).
struct MoeConfig {
  int64_t num_experts = 128;         // E
  int64_t num_experts_per_tok = 8;   // top-k
  int64_t moe_intermediate_size = 768;
  bool norm_topk_prob = false;       // divide the k weights by their sum
  int64_t decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;  // dense layers, by index
  double router_aux_loss_coef = 0.001;
  bool output_router_logits = false;  // HF adds coef * aux to the loss
};

struct ModelConfig {
  ModelArch arch = ModelArch::kQwen3;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  int64_t max_position_embeddings = 32768;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // as written in config.json (qwen3, llama)
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // `eos_token_id` may be an int or a list
  std::string torch_dtype = "float32";
  MoeConfig moe;  // meaningful for qwen3_moe only

  bool is_moe() const { return arch == ModelArch::kQwen3Moe; }
  // Layer i is a mixture of experts iff i is not in mlp_only_layers,
  // num_experts > 0 and (i + 1) % decoder_sparse_step == 0 (transformers'
  // rule); other layers run the dense MLP of width intermediate_size.
  bool IsMoeLayer(int64_t layer) const;
  int64_t num_moe_layers() const;

  // Derived per-architecture structure.
  bool qkv_bias() const { return arch == ModelArch::kQwen2 || attention_bias; }
  bool o_bias() const { return arch != ModelArch::kQwen2 && attention_bias; }
  bool qk_norm() const { return arch == ModelArch::kQwen3 || arch == ModelArch::kQwen3Moe; }
  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }

  // Same tensors and the same computation (sizes, biases, tying, experts
  // and their routing); tokens ids and context length may differ.
  bool SameArchitecture(const ModelConfig& other) const;

  // Checks the internal consistency (positive sizes, heads divisible by
  // kv heads, even head_dim for RoPE, ...). The error names the field.
  absl::Status Validate() const;

  // Parameters of decoder layer `layer` (attention, norms, its MLP or its
  // router and experts); with `active`, of a MoE layer only the router and
  // num_experts_per_tok experts. And the rest: embedding, final norm,
  // untied lm_head.
  int64_t LayerParameters(int64_t layer, bool active = false) const;
  int64_t RootParameters() const;

  // Number of parameters of the model (embeddings counted once when tied).
  int64_t NumParameters() const;
  // The parameters one token's forward uses: as NumParameters, with only
  // num_experts_per_tok of each MoE layer's experts (the router counts
  // whole). Equal to NumParameters for dense models. Qwen3-30B-A3B: 30.53 B
  // total, 3.35 B active.
  int64_t NumActiveParameters() const;
};

// Parses config.json text. `source` names the file in error messages.
absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json_text, absl::string_view source = "config.json");

// Reads and parses `<model_dir>/config.json`.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

// Serialises to a config.json that transformers loads (and that
// ParseModelConfig reads back to an equal config).
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_MODEL_CONFIG_H_
