#include "coordinator/coordinator_options.h"

#include "absl/strings/str_cat.h"

namespace ssd {

absl::Status CoordinatorOptions::Validate() const {
  if (lease_ttl_ms < 100) return absl::InvalidArgumentError(absl::StrCat("--lease-ttl-ms: ", lease_ttl_ms, " < 100"));
  if (heartbeat_interval_ms < 10 || heartbeat_interval_ms * 2 > lease_ttl_ms) {
    return absl::InvalidArgumentError(absl::StrCat("--heartbeat-interval-ms: ", heartbeat_interval_ms,
                                                   " must be >= 10 and at most half of --lease-ttl-ms (", lease_ttl_ms,
                                                   ")"));
  }
  if (worker_timeout_ms < 2 * heartbeat_interval_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("--worker-timeout-ms: ", worker_timeout_ms, " must be at least twice --heartbeat-interval-ms"));
  }
  if (recovery_grace_ms < 0) return absl::InvalidArgumentError("--recovery-grace-ms: must be >= 0");
  if (tick_ms < 1 || tick_ms > 10000) return absl::InvalidArgumentError("tick_ms: must be in [1, 10000]");
  if (idle_retry_ms < 1) return absl::InvalidArgumentError("idle_retry_ms: must be >= 1");
  if (max_leases_per_sampler < 1) return absl::InvalidArgumentError("max_leases_per_sampler: must be >= 1");
  if (max_sample_bytes < 1024) return absl::InvalidArgumentError("--max-sample-bytes: must be >= 1024");
  if (max_problems_per_job < 1) return absl::InvalidArgumentError("--max-problems-per-job: must be >= 1");
  return absl::OkStatus();
}

}  // namespace ssd
