// The job state machine (DESIGN.md §3). One job moves through its rounds:
//
//            submit
//              │
//          ┌───▼────┐   eval.base   ┌────────────┐
//          │PENDING ├──────────────►│ EVALUATING │ round 0: the base model
//          └───┬────┘               └─────┬──────┘
//              │ no base eval             │
//              ▼                          ▼
//   ┌────►┌──────────┐  every sample  ┌───────────┐  survivors  ┌──────────┐
//   │     │ SAMPLING ├───────────────►│ FILTERING ├────────────►│ TRAINING │
//   │     └──────────┘   is stored    └───────────┘  chosen     └────┬─────┘
//   │                                                  rank 0 done   │
//   │     ┌────────────┐  samplers hold the   ┌─────────┐            │
//   │     │ EVALUATING │◄─────────────────────┤ PUSHING │◄───────────┘
//   │     └─────┬──────┘  new weights         └────┬────┘  (skipped when
//   │           │ report                           │       nothing samples
//   │           ▼                                  │       with the weights)
//   └──── next round (r < rounds) ◄────────────────┘ (no eval)
//               │
//               ▼ r == rounds
//          SUCCEEDED
//
// Any non-terminal state can go to FAILED (a shard, the training group or
// the push failing max_shard_attempts times; no survivors; an unreadable
// problem file) or CANCELLED (ssd cancel). SUCCEEDED, FAILED and CANCELLED
// are terminal. Every transition is written to the store before anything
// acts on it (commit_log.h).
#ifndef SSD_COORDINATOR_JOB_STATE_H_
#define SSD_COORDINATOR_JOB_STATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ssd/v1/job.pb.h"
#include "ssd/v1/types.pb.h"

namespace ssd {

bool IsTerminal(v1::JobState s);
// Whether the diagram above has an edge from `from` to `to`.
bool IsAllowedTransition(v1::JobState from, v1::JobState to);
// "SAMPLING", "FAILED", ...
std::string JobStateName(v1::JobState s);
// Parses a name (case-insensitive); false when unknown.
bool ParseJobStateName(absl::string_view name, v1::JobState* out);

// The API's other enums, without their prefixes ("SAMPLER", "ALIVE", ...).
std::string WorkerRoleName(v1::WorkerRole r);
std::string WorkerStateName(v1::WorkerState s);
std::string LeaseKindName(v1::LeaseKind k);

// "easy", "medium", "hard", or "" when not graded: the benchmarks'
// spelling, and the eval report's group names.
std::string DifficultyName(v1::Difficulty d);
// Parses a benchmark's difficulty (any case; "" is not graded). An unknown
// one is INVALID_ARGUMENT naming it.
absl::StatusOr<v1::Difficulty> ParseDifficulty(absl::string_view name);

}  // namespace ssd

#endif  // SSD_COORDINATOR_JOB_STATE_H_
