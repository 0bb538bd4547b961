// JobEntry: the coordinator's in-memory state of one job. The durable part
// is the Job record (without live progress), its problems, its shards (in
// `leases`) and its graded eval outcomes; the rest is rebuilt or restarts
// empty after a restart. Samples are indexed by the SampleStore.
//
// Not thread-safe: the Coordinator owns every JobEntry and guards them with
// its mutex.
#ifndef SSD_COORDINATOR_JOB_ENTRY_H_
#define SSD_COORDINATOR_JOB_ENTRY_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "coordinator/lease_table.h"
#include "ssd/v1/job.pb.h"
#include "ssd/v1/worker_service.pb.h"

namespace ssd {

// Samples and tokens stored by a moment: the points `samples_per_s` and
// `tokens_per_s` are measured over.
struct RatePoint {
  int64_t t_ms = 0;
  int64_t samples = 0;
  int64_t tokens = 0;
};

struct JobEntry {
  explicit JobEntry(LeaseTable::Persist persist_shard) : leases(std::move(persist_shard)) {}

  const std::string& id() const { return job.id(); }
  // The temperatures an eval round decodes at: the base's for round 0.
  std::vector<double> EvalTemperatures(int32_t round) const;
  // The seed of a lease's placement-independent RNG (ShardLease.seed).
  uint64_t SeedFor(v1::LeaseKind kind, int32_t round) const;
  // The round's status, or null.
  v1::RoundStatus* Round(int32_t round);

  v1::Job job;                        // durable fields; progress is filled in on read
  std::vector<v1::Problem> problems;  // sampling problems
  absl::flat_hash_map<std::string, uint32_t> problem_index;
  // Eval problems: id and difficulty (benchmark lines stay in the store).
  std::vector<v1::Problem> eval_problems;
  absl::flat_hash_map<std::string, uint32_t> eval_index;
  LeaseTable leases;
  // round -> (eval problem, setting) -> outcome; setting = truncation index x
  // temperatures + temperature index (store_schema.h).
  std::map<int32_t, std::map<std::pair<uint32_t, uint16_t>, v1::EvalOutcome>> evals;
  std::vector<RatePoint> rate;  // recent points, for samples/s
  v1::StageProgress live;       // training and push progress from reports
  bool progress_dirty = false;
  int32_t trainers_seen = -1;  // progress.trainers_registered last published
  int64_t last_publish_ms = 0;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_JOB_ENTRY_H_
