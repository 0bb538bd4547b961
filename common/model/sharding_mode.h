// Sharded data parallel: which training state each rank holds only its
// 1/d share of (d ranks). `train.sharding` and `ssd train --sharding` take
//   none        plain data parallel: every rank holds everything;
//   optimizer   ZeRO-1: the AdamW moments and the fp32 master weights;
//   gradients   ZeRO-2: those and the gradients (FSDP2 without resharding
//               after forward);
//   full        ZeRO-3 / FSDP: those and the parameters, gathered one
//               decoder layer at a time.
// Every mode trains the weights plain data parallel trains, up to float
// summation order. trainer_worker/sharded_model.h does the sharding; this
// header is the setting (torch-free: the coordinator parses it from a job
// spec, and `ssd plan` prices it).
#ifndef SSD_COMMON_MODEL_SHARDING_MODE_H_
#define SSD_COMMON_MODEL_SHARDING_MODE_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

enum class ShardingMode { kNone, kOptimizer, kGradients, kFull };

// "none", "optimizer", "gradients" or "full".
const char* ShardingModeName(ShardingMode mode);
// Parses ShardingModeName's words; an error names `field` and what it takes.
absl::StatusOr<ShardingMode> ParseShardingMode(absl::string_view text, absl::string_view field);

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_SHARDING_MODE_H_
