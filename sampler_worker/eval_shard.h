// EvaluateShard: the work of one EVAL lease. Every problem of the shard is
// decoded at every setting of the lease (each temperature with each
// truncation), and then all the answers are graded together in one
// GradeSolutions call.
//
// Grading once per shard, not once per setting, changes no verdict: each
// distinct program still runs once on its problem (GradeSolutions keeps the
// first copy and copies its result to the others). It changes how the runs
// are cut: a shard of 10 problems at 5 settings has tens of distinct
// programs, so the sandbox runs carry full batches (GradeOptions::max_batch
// programs behind one bubblewrap and Python start-up), where one setting's
// few new programs went out in smaller batches, each paying that start-up.
// Decoding is not overlapped with grading either way.
//
// Temperature 0 is decoded once (the engine is batch-invariant, so every
// greedy sample has the same tokens), counted n times, and reported for every
// truncation, which cannot change an argmax.
#ifndef SSD_SAMPLER_WORKER_EVAL_SHARD_H_
#define SSD_SAMPLER_WORKER_EVAL_SHARD_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "common/eval/grader.h"
#include "common/eval/sandbox.h"
#include "sampler_worker/generation_backend.h"
#include "ssd/v1/worker_service.pb.h"

namespace ssd {

struct EvalShardStats {
  int64_t answers_graded = 0;     // answers given a verdict, copies included
  int64_t answers_reused = 0;     // of those, the ones whose program ran for another answer
  int64_t distinct_programs = 0;  // distinct (problem, program) pairs graded
};

// Decodes and grades `lease` (an EVAL lease; the weights are already in
// `backend`) and appends one EvalOutcome per problem and setting to `done`.
// A problem whose benchmark line does not parse, a decode failure (or
// `cancel`), and an answer the sandbox could not grade fail the shard,
// naming the problem.
absl::Status EvaluateShard(const v1::ShardLease& lease, GenerationBackend& backend, Sandbox& sandbox,
                           GradeOptions grade, const std::atomic<bool>* cancel, v1::ShardDone* done,
                           EvalShardStats* stats);

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_EVAL_SHARD_H_
