#include "common/model/sharding_mode.h"

#include "absl/strings/str_cat.h"

namespace ssd {

const char* ShardingModeName(ShardingMode mode) {
  switch (mode) {
    case ShardingMode::kNone: return "none";
    case ShardingMode::kOptimizer: return "optimizer";
    case ShardingMode::kGradients: return "gradients";
    case ShardingMode::kFull: return "full";
  }
  return "none";
}

absl::StatusOr<ShardingMode> ParseShardingMode(absl::string_view text, absl::string_view field) {
  for (ShardingMode m :
       {ShardingMode::kNone, ShardingMode::kOptimizer, ShardingMode::kGradients, ShardingMode::kFull}) {
    if (text == ShardingModeName(m)) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": must be none, optimizer, gradients or full, got \"", text, "\""));
}

}  // namespace ssd
