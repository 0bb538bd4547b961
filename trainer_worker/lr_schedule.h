// Learning-rate schedule: linear warmup, then cosine or linear decay.
//
//   step < warmup:   lr = peak * (step + 1) / warmup
//   afterwards:      p = (step - warmup) / max(1, total - warmup), clamped to [0, 1]
//     cosine:        lr = min + (peak - min) * (1 + cos(pi * p)) / 2
//     linear:        lr = min + (peak - min) * (1 - p)
//     constant:      lr = peak
//   where min = peak * min_lr_ratio and `step` is the 0-based index of the
//   optimizer step about to run. Pure function: resuming needs only the step.
#ifndef SSD_TRAINER_WORKER_LR_SCHEDULE_H_
#define SSD_TRAINER_WORKER_LR_SCHEDULE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

enum class LrDecay { kCosine, kLinear, kConstant };

absl::StatusOr<LrDecay> ParseLrDecay(absl::string_view name);  // "cosine", "linear", "constant"
absl::string_view LrDecayName(LrDecay decay);

struct LrScheduleOptions {
  double peak_lr = 1e-5;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  LrDecay decay = LrDecay::kCosine;
  double min_lr_ratio = 0.0;  // floor of the decay, as a fraction of peak_lr

  absl::Status Validate() const;
};

double LearningRate(const LrScheduleOptions& options, int64_t step);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_LR_SCHEDULE_H_
