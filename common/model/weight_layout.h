// The Hugging Face tensor names and shapes a ModelConfig implies, in the
// order transformers lists them. Used to validate checkpoints before loading
// and to name tensors when saving. No libtorch dependency.
#ifndef SSD_COMMON_MODEL_WEIGHT_LAYOUT_H_
#define SSD_COMMON_MODEL_WEIGHT_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/model/model_config.h"

namespace ssd {

struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
};

// Every tensor the checkpoint of `config` must contain (lm_head.weight only
// when the embeddings are not tied).
std::vector<WeightSpec> ExpectedWeights(const ModelConfig& config);

// "model.layers.<layer>.<suffix>"
std::string LayerWeightName(int64_t layer, const char* suffix);

// Tensors a checkpoint may carry that the forward ignores (for example
// `lm_head.weight` in a tied checkpoint, rotary `inv_freq` buffers).
bool IsIgnorableExtraWeight(const ModelConfig& config, const std::string& name);

// "[2560, 151936]"
std::string ShapeToString(const std::vector<int64_t>& shape);

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_WEIGHT_LAYOUT_H_
