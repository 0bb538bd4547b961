// Rotary position embedding frequencies, including Llama-3's `rope_scaling`.
//
// inv_freq[i] = rope_theta^(-2i / head_dim), i in [0, head_dim/2). With llama3
// scaling, each frequency is rescaled by its wavelength 2*pi/inv_freq:
//   wavelength < original_max / high_freq_factor  -> unchanged (high frequency)
//   wavelength > original_max / low_freq_factor   -> divided by factor
//   otherwise, interpolated linearly in original_max / wavelength.
// The scaling does not depend on sequence length; prompts longer than
// original_max_position_embeddings use the same frequencies.
//
// The decoder applies RoPE with the rotate-half convention: the first and
// second halves of each head form the (x, y) pairs, cos/sin = cat(f, f).
#ifndef SSD_COMMON_MODEL_ROPE_H_
#define SSD_COMMON_MODEL_ROPE_H_

#include <vector>

#include "common/model/model_config.h"

namespace ssd {

// head_dim / 2 inverse frequencies, computed in double and rounded to float.
std::vector<float> RopeInverseFrequencies(const ModelConfig& config);

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_ROPE_H_
