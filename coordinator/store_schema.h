// The coordinator's tables in its KvStore and how keys are spelled.
//
//   table     key                                         value
//   meta      "schema"                                    SchemaVersion (kSchemaVersion)
//   meta      "counters"                                  Counters
//   jobs      job_id                                      Job (without live progress)
//   problems  job_id \0 kind(1) problem(4)                Problem
//   shards    job_id \0 round(4) kind(1) shard(4)         ShardRecord
//   workers   worker_id                                   WorkerRecord
//   samples   job_id \0 round(4) problem(4) sample(4)     SampleRecord
//   features  (the same key as samples)                   SampleFeatures
//   evals     job_id \0 round(4) problem(4) setting(2)    EvalOutcome
//   requests  request_id                                  SubmitRecord (SubmitJob's idempotency)
//
// Record types are in records.proto (package ssd.internal).
// Integers are big-endian, so bytewise key order is numeric order and a
// round's samples are one contiguous range, sorted by problem then sample.
// Job ids never contain \0 (they are made by the coordinator).
#ifndef SSD_COORDINATOR_STORE_SCHEMA_H_
#define SSD_COORDINATOR_STORE_SCHEMA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ssd {

enum Table : int { kMeta = 0, kJobs, kProblems, kShards, kWorkers, kSamples, kFeatures, kEvals, kRequests, kNumTables };

// The layout of the tables and records above. A data dir written with
// another version (or before versions were recorded: version 1) is refused
// at start-up, never misread.
inline constexpr uint32_t kSchemaVersion = 2;

// Table names, in enum order (the RocksDB column families).
std::vector<std::string> CoordinatorTables();

// Problems of the job's sampling set (kind 0) and of its eval benchmark (1).
enum ProblemSet : uint8_t { kTrainProblems = 0, kEvalProblems = 1 };

std::string JobPrefix(absl::string_view job_id);  // job_id \0
std::string ProblemKey(absl::string_view job_id, ProblemSet set, uint32_t index);
std::string ProblemPrefix(absl::string_view job_id, ProblemSet set);
std::string ShardKey(absl::string_view job_id, uint32_t round, uint8_t kind, uint32_t shard);
std::string SampleKey(absl::string_view job_id, uint32_t round, uint32_t problem, uint32_t sample);
std::string RoundPrefix(absl::string_view job_id, uint32_t round);
std::string EvalKey(absl::string_view job_id, uint32_t round, uint32_t problem, uint16_t setting);

struct SampleKeyParts {
  std::string job_id;
  uint32_t round = 0;
  uint32_t problem = 0;
  uint32_t sample = 0;
};
// False when `key` is not a sample key.
bool ParseSampleKey(absl::string_view key, SampleKeyParts* out);
struct EvalKeyParts {
  uint32_t round = 0;
  uint32_t problem = 0;
  uint16_t setting = 0;  // truncation index x temperatures + temperature index
};
bool ParseEvalKey(absl::string_view key, EvalKeyParts* out);
// The index at the end of a problem key.
bool ParseProblemKey(absl::string_view key, uint32_t* index);

}  // namespace ssd

#endif  // SSD_COORDINATOR_STORE_SCHEMA_H_
