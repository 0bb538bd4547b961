#include "common/sampling/sampling_presets.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"

namespace ssd {

SamplingParams SamplingPreset::ApplyTo(SamplingParams base) const {
  base.temperature = temperature;
  base.top_k = top_k;
  base.top_p = top_p;
  base.min_p = min_p;
  base.repetition_penalty = repetition_penalty;
  return base;
}

const std::vector<SamplingPreset>& SamplingPresets() {
  static const std::vector<SamplingPreset>* presets = new std::vector<SamplingPreset>{
      {kSsdTrainPreset, "SSD's sampling of training data: T 1.5, top-k 20, top-p 0.8 (ml-ssd)", 1.5, 20, 0.8, 0.0, 1.0},
      {kSsdEvalPreset, "the paper's eval decode of its SSD-trained Qwen3-4B-Instruct: T 1.1, top-k 20, top-p 0.8", 1.1,
       20, 0.8, 0.0, 1.0},
  };
  return *presets;
}

absl::StatusOr<SamplingPreset> FindSamplingPreset(absl::string_view name) {
  std::string names;
  for (const SamplingPreset& p : SamplingPresets()) {
    if (p.name == name) return p;
    absl::StrAppend(&names, names.empty() ? "" : ", ", p.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("--preset: \"", name, "\" is not one of ", names));
}

SamplingParams PresetSamplingParams(absl::string_view preset) {
  absl::StatusOr<SamplingPreset> p = FindSamplingPreset(preset);
  CHECK(p.ok()) << p.status();
  SamplingParams params;
  params.max_tokens = kDefaultMaxTokens;
  return p->ApplyTo(params);
}

}  // namespace ssd
