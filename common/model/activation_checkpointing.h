// Activation checkpointing: a decoder layer that keeps only its input for
// backward, and runs its forward again there to get the activations its
// gradients need. The memory a checkpointed layer holds between forward and
// backward is its input, [B, T, H]; the price is a second forward of the
// layer (about a third more compute for the layer).
//
// Which layers: `train.activation_checkpointing` and `ssd train
// --activation-checkpointing` take
//   none      no layer (every activation is kept);
//   full      every layer;
//   every:N   every Nth layer, counting from 1 (layers N, 2N, ...), as
//             torchtitan's selective per-layer option: memory between the
//             two, the recompute on 1/N of the layers. every:1 is full.
//
// This header is the setting (torch-free: the coordinator parses it from a
// job spec); checkpointed_layer.h is the autograd part.
#ifndef SSD_COMMON_MODEL_ACTIVATION_CHECKPOINTING_H_
#define SSD_COMMON_MODEL_ACTIVATION_CHECKPOINTING_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

struct ActivationCheckpointing {
  // 0: none; 1: every layer; N: layers N, 2N, ... (1-based).
  int32_t every = 0;

  // Layer `layer` (0-based) keeps only its input.
  bool Checkpoints(int64_t layer) const { return every > 0 && (layer + 1) % every == 0; }
  // "none", "full" or "every:N".
  std::string Name() const;
  // Parses Name()'s forms; an error names `field` and what it takes.
  static absl::StatusOr<ActivationCheckpointing> Parse(absl::string_view text, absl::string_view field);
};

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_ACTIVATION_CHECKPOINTING_H_
