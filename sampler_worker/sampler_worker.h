// SamplerWorker: the sampler's loop, free of libtorch (generation goes
// through GenerationBackend).
//
//   register ─► acquire ─┬─ SAMPLE lease: load the lease's weights, generate
//                        │  the missing samples, stream each to the replay
//                        │  store as it finishes, report the shard done
//                        ├─ EVAL lease: generate n answers per problem and
//                        │  setting, grade them in the sandbox
//                        │  (eval_shard.h), report pass counts
//                        └─ idle: if a job waits for weights this sampler
//                           lacks, fetch them from a peer that holds them
//
// Leases are renewed by the session's heartbeat; a revoked lease stops its
// generation. A generation failure fails the shard with the reason and the
// worker goes on. Drain() (SIGTERM) finishes the current shard within
// drain_timeout_ms, then returns what is left and deregisters.
#ifndef SSD_SAMPLER_WORKER_SAMPLER_WORKER_H_
#define SSD_SAMPLER_WORKER_SAMPLER_WORKER_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/eval/grader.h"
#include "common/eval/sandbox.h"
#include "common/weights/weights_transport.h"
#include "coordinator/client/worker_session.h"
#include "sampler_worker/generation_backend.h"
#include "sampler_worker/weights_store.h"

namespace ssd {

struct SamplerWorkerOptions {
  WorkerSessionOptions session;  // role is set to SAMPLER
  ChannelFactory peers;          // channels to other samplers
  GradeOptions grade;
  int64_t drain_timeout_ms = 60000;
  int64_t stream_timeout_ms = 24 * 3600 * 1000;
  int append_retries = 20;
};

struct SamplerWorkerStats {
  int64_t samples_appended = 0;
  int64_t shards_done = 0;
  int64_t shards_failed = 0;
  int64_t eval_answers_graded = 0;
  // Of those, the answers whose program was graded for another answer to
  // the same problem in the same lease, and so was not run again.
  int64_t eval_answers_reused = 0;
  int64_t fetches = 0;
  std::string unhealthy;  // why the worker takes no work now; "" when it does
};

class SamplerWorker {
 public:
  // Nothing is owned; everything must outlive the worker.
  SamplerWorker(const SamplerWorkerOptions& options, GenerationBackend* backend, WeightsStore* store, Sandbox* sandbox);
  ~SamplerWorker();

  // Registers and works until Drain() or Stop(); returns the reason it
  // stopped (OK after a drain).
  absl::Status Run();
  void Drain();
  void Stop();

  std::string worker_id() const;
  SamplerWorkerStats stats() const;

  // Hooks for SamplerService (weights pushed or fetched).
  absl::Status AcceptWeights(const v1::WeightsManifest& manifest) const;
  absl::Status CheckWeightsFile(const v1::WeightsManifest& manifest, const std::string& name,
                                const std::string& path) const;
  void OnInstalled(const v1::WeightsRef& ref);

 private:
  void RunShard(const v1::ShardLease& lease);
  absl::Status Sample(const v1::ShardLease& lease, const std::atomic<bool>* cancel, int64_t* appended);
  absl::Status Evaluate(const v1::ShardLease& lease, const std::atomic<bool>* cancel, v1::ShardDone* done);
  absl::Status Fetch(const v1::Idle& idle);
  std::string WeightsDir(const v1::ShardLease& lease) const;

  const SamplerWorkerOptions options_;
  GenerationBackend* const backend_;
  WeightsStore* const store_;
  Sandbox* const sandbox_;
  std::unique_ptr<WorkerSession> session_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> drain_deadline_ms_{0};
  mutable absl::Mutex stats_mu_;
  SamplerWorkerStats stats_ ABSL_GUARDED_BY(stats_mu_);
};

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_SAMPLER_WORKER_H_
