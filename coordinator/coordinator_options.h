// Options of the coordinator daemon's control logic (timeouts, limits).
#ifndef SSD_COORDINATOR_COORDINATOR_OPTIONS_H_
#define SSD_COORDINATOR_COORDINATOR_OPTIONS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace ssd {

// The default limit on the problems of one list of a job (training
// problems, eval benchmark, an import's distinct prompts).
inline constexpr size_t kMaxProblems = 10'000'000;

struct CoordinatorOptions {
  // A lease lapses unless renewed (by a heartbeat) within this long.
  int64_t lease_ttl_ms = 30000;
  // How often workers are told to heartbeat.
  int64_t heartbeat_interval_ms = 3000;
  // A worker not heard from for this long is DEAD and its leases go back.
  int64_t worker_timeout_ms = 30000;
  // After a restart, leases and workers get this long to be renewed before
  // they expire (a restart must not cost the work in flight).
  int64_t recovery_grace_ms = 60000;
  // The scheduler's period: expiries, job progress, watch updates.
  int64_t tick_ms = 100;
  // How long an idle worker is told to wait before asking again.
  int64_t idle_retry_ms = 500;
  // Leases one sampler may hold at once (so it can prefetch its next shard).
  int max_leases_per_sampler = 2;
  // Largest accepted sample text.
  int64_t max_sample_bytes = 16 << 20;
  // Most problems in one list of a job (--max-problems-per-job).
  size_t max_problems_per_job = kMaxProblems;
  // Progress-only watch updates are sent at most this often per job.
  int64_t watch_progress_interval_ms = 250;

  absl::Status Validate() const;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_COORDINATOR_OPTIONS_H_
