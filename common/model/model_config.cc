#include "common/model/model_config.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/json.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using json = nlohmann::json;

class FieldReader {
 public:
  FieldReader(const json& obj, absl::string_view source, absl::string_view prefix = "")
      : obj_(obj), source_(source), prefix_(prefix) {}

  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": field \"", prefix_, field, "\" ", what));
  }

  bool Has(const char* field) const {
    auto it = obj_.find(field);
    return it != obj_.end() && !it->is_null();
  }

  // Integers must be JSON integers in [min_value, 2^62].
  absl::StatusOr<int64_t> Int(const char* field, std::optional<int64_t> fallback, int64_t min_value = 1) const {
    auto it = obj_.find(field);
    if (it == obj_.end() || it->is_null()) {
      if (fallback) return *fallback;
      return Error(field, "is required but missing");
    }
    if (!it->is_number_integer()) {
      return Error(field, absl::StrCat("must be an integer, got ", it->dump()));
    }
    int64_t v = it->is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), 1ull << 62))
                                         : it->get<int64_t>();
    if (v < min_value || v > (int64_t{1} << 40)) {
      return Error(field, absl::StrCat("must be in [", min_value, ", 2^40], got ", v));
    }
    return v;
  }

  // Floats accept JSON integers too (Qwen3 writes "rope_theta": 5000000).
  absl::StatusOr<double> Float(const char* field, std::optional<double> fallback) const {
    auto it = obj_.find(field);
    if (it == obj_.end() || it->is_null()) {
      if (fallback) return *fallback;
      return Error(field, "is required but missing");
    }
    if (!it->is_number()) return Error(field, absl::StrCat("must be a number, got ", it->dump()));
    double v = it->get<double>();
    if (!std::isfinite(v) || v <= 0) {
      return Error(field, absl::StrCat("must be a positive finite number, got ", it->dump()));
    }
    return v;
  }

  // A finite number >= 0 (router_aux_loss_coef may be 0).
  absl::StatusOr<double> NonNegative(const char* field, double fallback) const {
    auto it = obj_.find(field);
    if (it == obj_.end() || it->is_null()) return fallback;
    if (!it->is_number()) return Error(field, absl::StrCat("must be a number, got ", it->dump()));
    const double v = it->get<double>();
    if (!std::isfinite(v) || v < 0) return Error(field, absl::StrCat("must be a finite number >= 0, got ", it->dump()));
    return v;
  }

  // A JSON list of non-negative integers, elements named field[i] in errors.
  absl::StatusOr<std::vector<int64_t>> NonNegativeInts(const char* field, const json& list) const {
    std::vector<int64_t> out;
    for (size_t i = 0; i < list.size(); ++i) {
      const json& e = list[i];
      if (!e.is_number_integer() || e.get<int64_t>() < 0) {
        return Error(absl::StrCat(field, "[", i, "]"), absl::StrCat("must be a non-negative integer, got ", e.dump()));
      }
      out.push_back(e.get<int64_t>());
    }
    return out;
  }

  absl::StatusOr<bool> Bool(const char* field, bool fallback) const {
    auto it = obj_.find(field);
    if (it == obj_.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) return Error(field, absl::StrCat("must be true or false, got ", it->dump()));
    return it->get<bool>();
  }

  absl::StatusOr<std::string> String(const char* field, std::optional<std::string> fallback) const {
    auto it = obj_.find(field);
    if (it == obj_.end() || it->is_null()) {
      if (fallback) return *fallback;
      return Error(field, "is required but missing");
    }
    if (!it->is_string()) return Error(field, absl::StrCat("must be a string, got ", it->dump()));
    return it->get<std::string>();
  }

 private:
  const json& obj_;
  std::string source_;
  std::string prefix_;
};

absl::StatusOr<RopeScaling> ParseRopeScaling(const json& j, absl::string_view source) {
  RopeScaling out;
  if (j.is_null()) return out;
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field \"rope_scaling\" must be an object or null, got ", j.dump()));
  }
  FieldReader r(j, source, "rope_scaling.");
  // transformers accepts both "rope_type" and the legacy "type".
  std::string type;
  if (r.Has("rope_type")) {
    ASSIGN_OR_RETURN(type, r.String("rope_type", std::nullopt));
  } else {
    ASSIGN_OR_RETURN(type, r.String("type", std::nullopt));
  }
  if (type == "default") return out;
  if (type != "llama3") {
    return absl::UnimplementedError(
        absl::StrCat(source, ": rope_scaling type \"", type,
                     "\" is not supported (supported: llama3, default); it would change the RoPE frequencies"));
  }
  out.type = RopeScaling::Type::kLlama3;
  ASSIGN_OR_RETURN(out.factor, r.Float("factor", std::nullopt));
  ASSIGN_OR_RETURN(out.low_freq_factor, r.Float("low_freq_factor", std::nullopt));
  ASSIGN_OR_RETURN(out.high_freq_factor, r.Float("high_freq_factor", std::nullopt));
  ASSIGN_OR_RETURN(out.original_max_position_embeddings, r.Int("original_max_position_embeddings", std::nullopt));
  if (out.high_freq_factor <= out.low_freq_factor) {
    return r.Error("high_freq_factor", absl::StrCat("must be greater than low_freq_factor (", out.low_freq_factor,
                                                    "), got ", out.high_freq_factor));
  }
  return out;
}

// The mixture-of-experts fields of a qwen3_moe config. Any other field
// whose name speaks of experts, MoE or a router (qwen2_moe's shared expert,
// a router jitter, ...) would change the computation in a way this runtime
// does not implement, so it is refused by name.
absl::StatusOr<MoeConfig> ParseMoeFields(const json& j, const FieldReader& r, absl::string_view source) {
  static const char* const kKnown[] = {"num_experts",         "num_experts_per_tok",  "moe_intermediate_size",
                                       "norm_topk_prob",      "decoder_sparse_step",  "mlp_only_layers",
                                       "router_aux_loss_coef", "output_router_logits"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const bool moe_like = key.find("expert") != std::string::npos || key.find("moe") != std::string::npos ||
                          key.find("router") != std::string::npos;
    if (!moe_like) continue;
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) {
      return absl::UnimplementedError(absl::StrCat(
          source, ": field \"", key,
          "\" is not a qwen3_moe field this runtime implements (known: num_experts, num_experts_per_tok, "
          "moe_intermediate_size, norm_topk_prob, decoder_sparse_step, mlp_only_layers, router_aux_loss_coef, "
          "output_router_logits); it would change the computation"));
    }
  }
  MoeConfig m;
  ASSIGN_OR_RETURN(m.num_experts, r.Int("num_experts", m.num_experts, 0));
  ASSIGN_OR_RETURN(m.num_experts_per_tok, r.Int("num_experts_per_tok", m.num_experts_per_tok));
  ASSIGN_OR_RETURN(m.moe_intermediate_size, r.Int("moe_intermediate_size", m.moe_intermediate_size));
  ASSIGN_OR_RETURN(m.norm_topk_prob, r.Bool("norm_topk_prob", m.norm_topk_prob));
  ASSIGN_OR_RETURN(m.decoder_sparse_step, r.Int("decoder_sparse_step", m.decoder_sparse_step));
  ASSIGN_OR_RETURN(m.router_aux_loss_coef, r.NonNegative("router_aux_loss_coef", m.router_aux_loss_coef));
  ASSIGN_OR_RETURN(m.output_router_logits, r.Bool("output_router_logits", m.output_router_logits));
  auto layers = j.find("mlp_only_layers");
  if (layers != j.end() && !layers->is_null()) {
    if (!layers->is_array()) return r.Error("mlp_only_layers", absl::StrCat("must be a list, got ", layers->dump()));
    ASSIGN_OR_RETURN(m.mlp_only_layers, r.NonNegativeInts("mlp_only_layers", *layers));
  }
  return m;
}

}  // namespace

absl::string_view ModelTypeName(ModelArch arch) {
  switch (arch) {
    case ModelArch::kQwen3: return "qwen3";
    case ModelArch::kQwen2: return "qwen2";
    case ModelArch::kLlama: return "llama";
    case ModelArch::kQwen3Moe: return "qwen3_moe";
  }
  return "unknown";
}

absl::Status ModelConfig::Validate() const {
  auto bad = [](absl::string_view field, auto value, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("model config: \"", field, "\" = ", value, ": ", why));
  };
  if (vocab_size <= 0) return bad("vocab_size", vocab_size, "must be positive");
  if (hidden_size <= 0) return bad("hidden_size", hidden_size, "must be positive");
  if (intermediate_size <= 0) return bad("intermediate_size", intermediate_size, "must be positive");
  if (num_hidden_layers <= 0) return bad("num_hidden_layers", num_hidden_layers, "must be positive");
  if (num_attention_heads <= 0) return bad("num_attention_heads", num_attention_heads, "must be positive");
  if (num_key_value_heads <= 0) return bad("num_key_value_heads", num_key_value_heads, "must be positive");
  if (num_attention_heads % num_key_value_heads != 0) {
    return bad("num_key_value_heads", num_key_value_heads,
               absl::StrCat("must divide num_attention_heads (", num_attention_heads, ")"));
  }
  if (head_dim <= 0 || head_dim % 2 != 0) {
    return bad("head_dim", head_dim, "must be positive and even (RoPE rotates pairs)");
  }
  if (max_position_embeddings <= 0) {
    return bad("max_position_embeddings", max_position_embeddings, "must be positive");
  }
  if (!(rms_norm_eps > 0)) return bad("rms_norm_eps", rms_norm_eps, "must be positive");
  if (!(rope_theta > 1)) return bad("rope_theta", rope_theta, "must be greater than 1");
  for (int64_t id : eos_token_ids) {
    if (id < 0 || id >= vocab_size) {
      return bad("eos_token_id", id, absl::StrCat("must be in [0, vocab_size=", vocab_size, ")"));
    }
  }
  if (bos_token_id && (*bos_token_id < 0 || *bos_token_id >= vocab_size)) {
    return bad("bos_token_id", *bos_token_id, absl::StrCat("must be in [0, vocab_size=", vocab_size, ")"));
  }
  if (!is_moe()) return absl::OkStatus();
  if (moe.num_experts < 0) return bad("num_experts", moe.num_experts, "must be >= 0");
  if (moe.num_experts > 0) {
    if (moe.num_experts_per_tok < 1 || moe.num_experts_per_tok > moe.num_experts) {
      return bad("num_experts_per_tok", moe.num_experts_per_tok,
                 absl::StrCat("must be in [1, num_experts=", moe.num_experts, "]"));
    }
    if (moe.num_experts_per_tok > 64) {
      return bad("num_experts_per_tok", moe.num_experts_per_tok, "is above the 64 experts per token this runtime runs");
    }
    if (moe.moe_intermediate_size <= 0) {
      return bad("moe_intermediate_size", moe.moe_intermediate_size, "must be positive");
    }
  }
  if (moe.decoder_sparse_step < 1) return bad("decoder_sparse_step", moe.decoder_sparse_step, "must be >= 1");
  for (size_t i = 0; i < moe.mlp_only_layers.size(); ++i) {
    const int64_t l = moe.mlp_only_layers[i];
    if (l < 0 || l >= num_hidden_layers) {
      return bad(absl::StrCat("mlp_only_layers[", i, "]"), l,
                 absl::StrCat("must be a layer index in [0, num_hidden_layers=", num_hidden_layers, ")"));
    }
  }
  if (!(moe.router_aux_loss_coef >= 0) || !std::isfinite(moe.router_aux_loss_coef)) {
    return bad("router_aux_loss_coef", moe.router_aux_loss_coef, "must be a finite number >= 0");
  }
  return absl::OkStatus();
}

bool ModelConfig::SameArchitecture(const ModelConfig& b) const {
  const ModelConfig& a = *this;
  const bool dense = a.arch == b.arch && a.vocab_size == b.vocab_size && a.hidden_size == b.hidden_size &&
                     a.intermediate_size == b.intermediate_size && a.num_hidden_layers == b.num_hidden_layers &&
                     a.num_attention_heads == b.num_attention_heads && a.num_key_value_heads == b.num_key_value_heads &&
                     a.head_dim == b.head_dim && a.tie_word_embeddings == b.tie_word_embeddings &&
                     a.qkv_bias() == b.qkv_bias() && a.o_bias() == b.o_bias();
  if (!dense || !a.is_moe()) return dense;
  for (int64_t l = 0; l < a.num_hidden_layers; ++l) {
    if (a.IsMoeLayer(l) != b.IsMoeLayer(l)) return false;
  }
  return a.moe.num_experts == b.moe.num_experts && a.moe.num_experts_per_tok == b.moe.num_experts_per_tok &&
         a.moe.moe_intermediate_size == b.moe.moe_intermediate_size && a.moe.norm_topk_prob == b.moe.norm_topk_prob;
}

bool ModelConfig::IsMoeLayer(int64_t layer) const {
  if (!is_moe() || moe.num_experts <= 0) return false;
  for (int64_t l : moe.mlp_only_layers) {
    if (l == layer) return false;
  }
  return (layer + 1) % moe.decoder_sparse_step == 0;
}

int64_t ModelConfig::num_moe_layers() const {
  int64_t n = 0;
  for (int64_t l = 0; l < num_hidden_layers; ++l) n += IsMoeLayer(l) ? 1 : 0;
  return n;
}

int64_t ModelConfig::LayerParameters(int64_t layer, bool active) const {
  const int64_t h = hidden_size;
  int64_t n = 2 * h /*norms*/ + h * q_dim() + 2 * h * kv_dim() + q_dim() * h;
  if (qkv_bias()) n += q_dim() + 2 * kv_dim();
  if (o_bias()) n += h;
  if (qk_norm()) n += 2 * head_dim;
  if (!IsMoeLayer(layer)) return n + 3 * h * intermediate_size;
  const int64_t experts = active ? std::min(moe.num_experts_per_tok, moe.num_experts) : moe.num_experts;
  return n + moe.num_experts * h /*router*/ + experts * 3 * h * moe.moe_intermediate_size;
}

int64_t ModelConfig::RootParameters() const {
  return vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2) + hidden_size /*final norm*/;
}

int64_t ModelConfig::NumParameters() const {
  int64_t total = RootParameters();
  for (int64_t l = 0; l < num_hidden_layers; ++l) total += LayerParameters(l);
  return total;
}

int64_t ModelConfig::NumActiveParameters() const {
  int64_t total = RootParameters();
  for (int64_t l = 0; l < num_hidden_layers; ++l) total += LayerParameters(l, /*active=*/true);
  return total;
}

absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json_text, absl::string_view source) {
  json j;
  {
    absl::StatusOr<json> parsed = ParseJson<json>(json_text);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": ", parsed.status().message()));
    j = std::move(*parsed);
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": top level must be a JSON object"));
  }
  FieldReader r(j, source);
  ModelConfig c;
  ASSIGN_OR_RETURN(std::string model_type, r.String("model_type", std::nullopt));
  if (model_type == "qwen3") {
    c.arch = ModelArch::kQwen3;
  } else if (model_type == "qwen2") {
    c.arch = ModelArch::kQwen2;
  } else if (model_type == "llama") {
    c.arch = ModelArch::kLlama;
  } else if (model_type == "qwen3_moe") {
    c.arch = ModelArch::kQwen3Moe;
  } else {
    return absl::UnimplementedError(absl::StrCat(source, ": model_type \"", model_type,
                                                 "\" is not supported (supported: qwen3, qwen2, llama, qwen3_moe)"));
  }
  if (c.is_moe()) {
    ASSIGN_OR_RETURN(c.moe, ParseMoeFields(j, r, source));
  }
  ASSIGN_OR_RETURN(std::string act, r.String("hidden_act", std::string("silu")));
  if (act != "silu") {
    return absl::UnimplementedError(absl::StrCat(source, ": hidden_act \"", act, "\" is not supported (only silu)"));
  }
  ASSIGN_OR_RETURN(bool sliding, r.Bool("use_sliding_window", false));
  if (sliding) {
    return absl::UnimplementedError(
        absl::StrCat(source, ": use_sliding_window: true is not supported; every layer uses full attention"));
  }
  ASSIGN_OR_RETURN(bool mlp_bias, r.Bool("mlp_bias", false));
  if (mlp_bias) {
    return absl::UnimplementedError(absl::StrCat(source, ": mlp_bias: true is not supported"));
  }
  ASSIGN_OR_RETURN(c.vocab_size, r.Int("vocab_size", std::nullopt));
  ASSIGN_OR_RETURN(c.hidden_size, r.Int("hidden_size", std::nullopt));
  ASSIGN_OR_RETURN(c.intermediate_size, r.Int("intermediate_size", std::nullopt));
  ASSIGN_OR_RETURN(c.num_hidden_layers, r.Int("num_hidden_layers", std::nullopt));
  ASSIGN_OR_RETURN(c.num_attention_heads, r.Int("num_attention_heads", std::nullopt));
  ASSIGN_OR_RETURN(c.num_key_value_heads, r.Int("num_key_value_heads", c.num_attention_heads));
  if (c.hidden_size % c.num_attention_heads != 0 && !r.Has("head_dim")) {
    return r.Error("head_dim", "is missing and hidden_size is not divisible by num_attention_heads");
  }
  ASSIGN_OR_RETURN(c.head_dim, r.Int("head_dim", c.hidden_size / c.num_attention_heads));
  ASSIGN_OR_RETURN(c.max_position_embeddings, r.Int("max_position_embeddings", int64_t{32768}));
  ASSIGN_OR_RETURN(c.rms_norm_eps, r.Float("rms_norm_eps", 1e-6));
  ASSIGN_OR_RETURN(c.rope_theta, r.Float("rope_theta", 10000.0));
  auto rs = j.find("rope_scaling");
  if (rs != j.end()) {
    ASSIGN_OR_RETURN(c.rope_scaling, ParseRopeScaling(*rs, source));
  }
  ASSIGN_OR_RETURN(c.tie_word_embeddings, r.Bool("tie_word_embeddings", false));
  ASSIGN_OR_RETURN(c.attention_bias, r.Bool("attention_bias", false));
  ASSIGN_OR_RETURN(c.torch_dtype, r.String("torch_dtype", std::string("float32")));
  if (r.Has("bos_token_id")) {
    ASSIGN_OR_RETURN(c.bos_token_id, r.Int("bos_token_id", std::nullopt, 0));
  }
  auto eos = j.find("eos_token_id");
  if (eos != j.end() && !eos->is_null()) {
    if (eos->is_array()) {
      ASSIGN_OR_RETURN(c.eos_token_ids, r.NonNegativeInts("eos_token_id", *eos));
    } else {
      ASSIGN_OR_RETURN(int64_t id, r.Int("eos_token_id", std::nullopt, 0));
      c.eos_token_ids.push_back(id);
    }
  }
  absl::Status st = c.Validate();
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": ", st.message()));
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  std::string path = JoinPath(model_dir, "config.json");
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, size_t{16} << 20));
  return ParseModelConfig(text, path);
}

std::string ModelConfigToJson(const ModelConfig& c) {
  json j = json::object();
  switch (c.arch) {
    case ModelArch::kQwen3: j["architectures"] = {"Qwen3ForCausalLM"}; break;
    case ModelArch::kQwen2: j["architectures"] = {"Qwen2ForCausalLM"}; break;
    case ModelArch::kLlama: j["architectures"] = {"LlamaForCausalLM"}; break;
    case ModelArch::kQwen3Moe: j["architectures"] = {"Qwen3MoeForCausalLM"}; break;
  }
  j["model_type"] = std::string(ModelTypeName(c.arch));
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scaling.type == RopeScaling::Type::kLlama3) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_scaling.factor},
                         {"low_freq_factor", c.rope_scaling.low_freq_factor},
                         {"high_freq_factor", c.rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  if (c.arch != ModelArch::kQwen2) j["attention_bias"] = c.attention_bias;
  if (c.arch == ModelArch::kLlama) j["mlp_bias"] = false;
  if (c.arch != ModelArch::kLlama) j["use_sliding_window"] = false;
  j["hidden_act"] = "silu";
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_ids.size() == 1) {
    j["eos_token_id"] = c.eos_token_ids[0];
  } else if (!c.eos_token_ids.empty()) {
    j["eos_token_id"] = c.eos_token_ids;
  }
  if (c.is_moe()) {
    j["num_experts"] = c.moe.num_experts;
    j["num_experts_per_tok"] = c.moe.num_experts_per_tok;
    j["moe_intermediate_size"] = c.moe.moe_intermediate_size;
    j["norm_topk_prob"] = c.moe.norm_topk_prob;
    j["decoder_sparse_step"] = c.moe.decoder_sparse_step;
    j["mlp_only_layers"] = c.moe.mlp_only_layers;
    j["router_aux_loss_coef"] = c.moe.router_aux_loss_coef;
    j["output_router_logits"] = c.moe.output_router_logits;
  }
  j["torch_dtype"] = c.torch_dtype;
  j["attention_dropout"] = 0.0;
  j["use_cache"] = true;
  return j.dump(2) + "\n";
}

}  // namespace ssd
