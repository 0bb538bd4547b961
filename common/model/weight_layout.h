// The Hugging Face tensor names and shapes a ModelConfig implies, in the
// order transformers lists them. Used to validate checkpoints before loading
// and to name tensors when saving. No libtorch dependency.
#ifndef SSD_COMMON_MODEL_WEIGHT_LAYOUT_H_
#define SSD_COMMON_MODEL_WEIGHT_LAYOUT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/model/model_config.h"

namespace ssd {

struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
};

// How a qwen3_moe checkpoint stores a layer's experts:
//   per expert (what transformers 4.x saves and vLLM reads):
//     mlp.experts.{e}.gate_proj.weight [I, H], .up_proj.weight [I, H],
//     .down_proj.weight [H, I] for e in [0, E);
//   fused (what transformers 5 may save):
//     mlp.experts.gate_up_proj [E, 2I, H] (rows gate | up per expert),
//     mlp.experts.down_proj [E, H, I].
// Both have the router mlp.gate.weight [E, H]. I = moe_intermediate_size.
enum class ExpertLayout { kPerExpert, kFused };

// Every tensor the checkpoint of `config` must contain (lm_head.weight only
// when the embeddings are not tied). MoE layers are listed in `layout`.
std::vector<WeightSpec> ExpectedWeights(const ModelConfig& config, ExpertLayout layout = ExpertLayout::kPerExpert);

// As above for a checkpoint whose tensor names `has` answers for: each MoE
// layer is expected fused iff the checkpoint has its fused gate_up tensor,
// else per expert.
std::vector<WeightSpec> ExpectedWeightsIn(const ModelConfig& config, const std::function<bool(const std::string&)>& has);

// "model.layers.<layer>.mlp.experts.<e>.<suffix>"
std::string ExpertWeightName(int64_t layer, int64_t expert, const char* suffix);

// "model.layers.<layer>.<suffix>"
std::string LayerWeightName(int64_t layer, const char* suffix);

// Tensors a checkpoint may carry that the forward ignores (for example
// `lm_head.weight` in a tied checkpoint, rotary `inv_freq` buffers).
bool IsIgnorableExtraWeight(const ModelConfig& config, const std::string& name);

// "[2560, 151936]"
std::string ShapeToString(const std::vector<int64_t>& shape);

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_WEIGHT_LAYOUT_H_
