// LayerRunner: how the decoder's training forward runs each decoder layer,
// for parallelism that wraps the model from outside (torchtitan's way).
// The decoder hands over each layer as a function of its input; the runner
// decides what happens around it: gather the layer's parameters before and
// free them after, reduce its gradients as soon as backward has them
// (trainer_worker/sharded_model.h), keep only its input (checkpointing).
// The model never sees a collective.
#ifndef SSD_COMMON_MODEL_LAYER_RUNNER_H_
#define SSD_COMMON_MODEL_LAYER_RUNNER_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "common/model/checkpointed_layer.h"

namespace ssd {

class LayerRunner {
 public:
  virtual ~LayerRunner() = default;
  // Returns layer(x) for decoder layer `index` (0-based), with autograd
  // history back to x and the layer's parameters as the runner arranges.
  // `checkpoint`: activation checkpointing asks this layer to keep only its
  // input. `layer` captures by value and may be called again in backward.
  virtual at::Tensor RunLayer(int64_t index, const LayerFn& layer, const at::Tensor& x, bool checkpoint) = 0;
};

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_LAYER_RUNNER_H_
