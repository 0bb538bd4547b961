// Named sampling settings from the SSD paper, and the defaults that every
// entry point which samples starts from: `ssd sample`, `ssd eval`, and the
// coordinator's job spec (`sampling.*`, `eval.*`). Torch-free, so the
// control plane uses it without libtorch.
//
//   preset     temperature  top_k  top_p  min_p  repetition_penalty
//   ssd-train  1.5          20     0.8    0      1    SSD's data sampling (ml-ssd's code; the paper's
//                                                     table gives 1.6 for Qwen3-Instruct)
//   ssd-eval   1.1          20     0.8    0      1    the paper's eval decode of the SSD-trained
//                                                     Qwen3-4B-Instruct-2507 (its 30B: T 0.9; the
//                                                     base models: T 0.7)
//
// A preset sets the decode settings only; n, max_tokens, seed and stops
// are the command's own. Every sampling command defaults to
// kDefaultMaxTokens, enough for a code answer of a few hundred lines.
#ifndef SSD_COMMON_SAMPLING_SAMPLING_PRESETS_H_
#define SSD_COMMON_SAMPLING_SAMPLING_PRESETS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sampling/sampling_params.h"

namespace ssd {

inline constexpr int64_t kDefaultMaxTokens = 2048;
inline constexpr char kSsdTrainPreset[] = "ssd-train";
inline constexpr char kSsdEvalPreset[] = "ssd-eval";

struct SamplingPreset {
  std::string name;
  std::string description;  // one line, for --help
  double temperature = 1.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  double min_p = 0.0;
  double repetition_penalty = 1.0;

  // `base` with this preset's decode settings.
  SamplingParams ApplyTo(SamplingParams base) const;
};

// Both presets, in the order of the table above.
const std::vector<SamplingPreset>& SamplingPresets();
// The preset called `name`; InvalidArgument listing the names otherwise.
absl::StatusOr<SamplingPreset> FindSamplingPreset(absl::string_view name);

// SamplingParams with `preset`'s decode settings, n = 1, max_tokens =
// kDefaultMaxTokens, seed 0 and no stops. `preset` must exist (CHECK).
SamplingParams PresetSamplingParams(absl::string_view preset);

}  // namespace ssd

#endif  // SSD_COMMON_SAMPLING_SAMPLING_PRESETS_H_
