#include "trainer_worker/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace ssd {

absl::StatusOr<LrDecay> ParseLrDecay(absl::string_view name) {
  if (name == "cosine") return LrDecay::kCosine;
  if (name == "linear") return LrDecay::kLinear;
  if (name == "constant") return LrDecay::kConstant;
  return absl::InvalidArgumentError(absl::StrCat("schedule: \"", name, "\" is not one of cosine, linear, constant"));
}

absl::string_view LrDecayName(LrDecay decay) {
  switch (decay) {
    case LrDecay::kCosine: return "cosine";
    case LrDecay::kLinear: return "linear";
    case LrDecay::kConstant: return "constant";
  }
  return "?";
}

absl::Status LrScheduleOptions::Validate() const {
  if (!(peak_lr > 0) || !std::isfinite(peak_lr)) {
    return absl::InvalidArgumentError(absl::StrCat("lr: must be a positive number, got ", peak_lr));
  }
  if (warmup_steps < 0) return absl::InvalidArgumentError(absl::StrCat("warmup: must be >= 0, got ", warmup_steps));
  if (total_steps < 1) return absl::InvalidArgumentError(absl::StrCat("total_steps: must be >= 1, got ", total_steps));
  if (!(min_lr_ratio >= 0 && min_lr_ratio <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("min_lr_ratio: must be in [0, 1], got ", min_lr_ratio));
  }
  return absl::OkStatus();
}

double LearningRate(const LrScheduleOptions& o, int64_t step) {
  if (step < o.warmup_steps) {
    return o.peak_lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  }
  if (o.decay == LrDecay::kConstant) return o.peak_lr;
  const double span = static_cast<double>(std::max<int64_t>(1, o.total_steps - o.warmup_steps));
  const double p = std::clamp(static_cast<double>(step - o.warmup_steps) / span, 0.0, 1.0);
  const double floor = o.peak_lr * o.min_lr_ratio;
  const double frac = o.decay == LrDecay::kCosine ? 0.5 * (1.0 + std::cos(M_PI * p)) : 1.0 - p;
  return floor + (o.peak_lr - floor) * frac;
}

}  // namespace ssd
