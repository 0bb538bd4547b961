#include "common/model/weight_layout.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ssd {

std::string LayerWeightName(int64_t layer, const char* suffix) {
  return absl::StrCat("model.layers.", layer, ".", suffix);
}

std::string ExpertWeightName(int64_t layer, int64_t expert, const char* suffix) {
  return absl::StrCat("model.layers.", layer, ".mlp.experts.", expert, ".", suffix);
}

std::vector<WeightSpec> ExpectedWeights(const ModelConfig& c, ExpertLayout layout) {
  return ExpectedWeightsIn(c, [layout](const std::string&) { return layout == ExpertLayout::kFused; });
}

std::vector<WeightSpec> ExpectedWeightsIn(const ModelConfig& c, const std::function<bool(const std::string&)>& has) {
  const int64_t h = c.hidden_size;
  std::vector<WeightSpec> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, h}});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    out.push_back({LayerWeightName(l, "input_layernorm.weight"), {h}});
    out.push_back({LayerWeightName(l, "self_attn.q_proj.weight"), {c.q_dim(), h}});
    out.push_back({LayerWeightName(l, "self_attn.k_proj.weight"), {c.kv_dim(), h}});
    out.push_back({LayerWeightName(l, "self_attn.v_proj.weight"), {c.kv_dim(), h}});
    if (c.qkv_bias()) {
      out.push_back({LayerWeightName(l, "self_attn.q_proj.bias"), {c.q_dim()}});
      out.push_back({LayerWeightName(l, "self_attn.k_proj.bias"), {c.kv_dim()}});
      out.push_back({LayerWeightName(l, "self_attn.v_proj.bias"), {c.kv_dim()}});
    }
    out.push_back({LayerWeightName(l, "self_attn.o_proj.weight"), {h, c.q_dim()}});
    if (c.o_bias()) out.push_back({LayerWeightName(l, "self_attn.o_proj.bias"), {h}});
    if (c.qk_norm()) {
      out.push_back({LayerWeightName(l, "self_attn.q_norm.weight"), {c.head_dim}});
      out.push_back({LayerWeightName(l, "self_attn.k_norm.weight"), {c.head_dim}});
    }
    out.push_back({LayerWeightName(l, "post_attention_layernorm.weight"), {h}});
    if (c.IsMoeLayer(l)) {
      const int64_t E = c.moe.num_experts, I = c.moe.moe_intermediate_size;
      out.push_back({LayerWeightName(l, "mlp.gate.weight"), {E, h}});
      if (has(LayerWeightName(l, "mlp.experts.gate_up_proj"))) {
        out.push_back({LayerWeightName(l, "mlp.experts.gate_up_proj"), {E, 2 * I, h}});
        out.push_back({LayerWeightName(l, "mlp.experts.down_proj"), {E, h, I}});
        continue;
      }
      for (int64_t e = 0; e < E; ++e) {
        out.push_back({ExpertWeightName(l, e, "gate_proj.weight"), {I, h}});
        out.push_back({ExpertWeightName(l, e, "up_proj.weight"), {I, h}});
        out.push_back({ExpertWeightName(l, e, "down_proj.weight"), {h, I}});
      }
      continue;
    }
    out.push_back({LayerWeightName(l, "mlp.gate_proj.weight"), {c.intermediate_size, h}});
    out.push_back({LayerWeightName(l, "mlp.up_proj.weight"), {c.intermediate_size, h}});
    out.push_back({LayerWeightName(l, "mlp.down_proj.weight"), {h, c.intermediate_size}});
  }
  out.push_back({"model.norm.weight", {h}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, h}});
  return out;
}

bool IsIgnorableExtraWeight(const ModelConfig& c, const std::string& name) {
  if (c.tie_word_embeddings && name == "lm_head.weight") return true;
  return absl::EndsWith(name, "rotary_emb.inv_freq");
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace ssd
