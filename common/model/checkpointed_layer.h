// One decoder layer run under activation checkpointing
// (activation_checkpointing.h says which layers): it keeps only its input
// for backward and runs its forward again there.
//
// Exactness: the forward that runs during training and the one recomputed
// in backward take the same ATen path (gradients on, so never the inference
// kernels), so on CPU, whose ops are deterministic at a fixed thread count,
// the gradients are bitwise those without checkpointing. On CUDA the
// recompute runs under the forward's autocast setting (autocast.h).
#ifndef SSD_COMMON_MODEL_CHECKPOINTED_LAYER_H_
#define SSD_COMMON_MODEL_CHECKPOINTED_LAYER_H_

#include <ATen/core/Tensor.h>

#include <functional>

namespace ssd {

// A layer as the decoder's training loop runs it: x_BTH in, the layer's
// output out. It must be a pure function of x and the parameters it
// captures (no randomness, no state), and keep what it captures alive until
// backward (capture by value).
using LayerFn = std::function<at::Tensor(const at::Tensor&)>;

// layer(x), keeping only x for backward. When gradients are off or nothing
// needs a gradient, plainly layer(x). In backward it runs layer on a
// detached copy of x with gradients on and backpropagates through that:
// the parameters' gradients accumulate into their .grad as they would
// without checkpointing, and x's gradient flows on to the layer below.
at::Tensor CheckpointedLayer(const LayerFn& layer, const at::Tensor& x);

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_CHECKPOINTED_LAYER_H_
