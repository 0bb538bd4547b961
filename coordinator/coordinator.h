// Coordinator: the control plane's domain object, a façade over the
// coordinator's parts. It owns every job, shard lease, worker and stored
// sample of a cluster, keeps them in memory under one mutex, and writes
// every change through the CommitLog into the KvStore before anyone hears of
// it. The gRPC services (server/) are thin adapters over its public methods.
//
// The parts, each with its own header and contract:
//   LeaseTable      (lease_table.h)      a job's shards: grant, renew, expire, return
//   WorkerRegistry  (worker_registry.h)  identities, sessions, heartbeats, held weights
//   Scheduler       (scheduler.h)        what to hand a sampler or a trainer
//   SampleStore     (sample_store.h)     samples: append, scan, export, import
//   JobEntry        (job_entry.h)        one job's in-memory state
// The façade owns the lock, the commit log, recovery, the tick and the
// watchers, and ties the parts together. Its methods live in:
//   coordinator.cc       start-up, recovery from the store, the tick, users' job API
//   job_progression.cc   the state machine's actions (job_state.h draws it)
//   worker_calls.cc      workers: registration, heartbeats, work, leaving
//   work_reports.cc      ReportWork: one handler per report
//   replay_store.cc      the replay store's calls
//
// Concurrency: every public method may be called from any thread. Methods
// that change state answer through a callback that runs once the change is
// durable (on the commit-log thread, or inline); they never block on I/O
// while holding the mutex.
#ifndef SSD_COORDINATOR_COORDINATOR_H_
#define SSD_COORDINATOR_COORDINATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/storage/kv_store.h"
#include "coordinator/clock.h"
#include "coordinator/commit_log.h"
#include "coordinator/coordinator_options.h"
#include "coordinator/job_entry.h"
#include "coordinator/lease_table.h"
#include "coordinator/records.pb.h"
#include "coordinator/sample_store.h"
#include "coordinator/scheduler.h"
#include "coordinator/worker_registry.h"
#include "ssd/v1/job.pb.h"
#include "ssd/v1/job_service.pb.h"
#include "ssd/v1/replay_store.pb.h"
#include "ssd/v1/worker_service.pb.h"

namespace ssd {

class Counter;
class MetricsRegistry;

template <typename T>
using Done = std::function<void(absl::StatusOr<T>)>;

class Coordinator {
 public:
  // `store`, `clock` and `metrics` are not owned and must outlive it;
  // `metrics` may be null.
  Coordinator(const CoordinatorOptions& options, KvStore* store, const Clock* clock, MetricsRegistry* metrics);
  ~Coordinator();

  // Checks the store's schema version (FAILED_PRECONDITION, naming it, for
  // a store written by another schema; a new store is stamped with this
  // one), loads every job, shard, worker and sample index from it (leases
  // and workers get options.recovery_grace_ms to be renewed), then starts
  // the commit log and the tick thread.
  absl::Status Start();
  // Stops the tick, commits what is queued. Idempotent.
  void Shutdown();
  // OK while the store accepts writes.
  absl::Status Health() const;
  CommitLog& log() { return *log_; }

  // ---- users (JobService; job_service.proto states each call's errors) ----
  // A request_id seen before returns the job it made (deduplicated) when the
  // request is the same, ALREADY_EXISTS when it is not.
  void SubmitJob(const v1::SubmitJobRequest& request, const std::string& peer, Done<v1::SubmitJobResponse> done);
  void GetJob(const std::string& job_id, Done<v1::Job> done);
  // Newest first; page tokens name where the next page starts.
  void ListJobs(const v1::ListJobsRequest& request, Done<v1::ListJobsResponse> done);
  void CancelJob(const v1::CancelJobRequest& request, Done<v1::Job> done);
  // Calls `update` with the job now, then with the job after every durable
  // change (progress-only changes at most every watch_progress_interval_ms).
  // Returns a handle for Unwatch. `update` runs on coordinator threads and
  // must not call back into the coordinator.
  absl::StatusOr<int64_t> Watch(const std::string& job_id, std::function<void(const v1::Job&)> update);
  void Unwatch(int64_t watch_id);
  // By worker id, a page at a time.
  void ListWorkers(const v1::ListWorkersRequest& request, Done<v1::ListWorkersResponse> done);

  // ---- workers (WorkerService; worker_calls.cc, work_reports.cc) ----
  // `who` is the worker's credentials from the call's metadata; for
  // RegisterWorker, `resume` is the credentials of a worker resuming (null
  // for a new one).
  void RegisterWorker(const v1::RegisterWorkerRequest& request, const v1::WorkerCredentials* resume,
                      const std::string& peer, Done<v1::RegisterWorkerResponse> done);
  void Heartbeat(const v1::WorkerCredentials& who, const v1::HeartbeatRequest& request,
                 Done<v1::HeartbeatResponse> done);
  void AcquireWork(const v1::WorkerCredentials& who, const v1::AcquireWorkRequest& request,
                   Done<v1::AcquireWorkResponse> done);
  void ReportWork(const v1::WorkerCredentials& who, const v1::ReportWorkRequest& request,
                  Done<v1::ReportWorkResponse> done);
  void Deregister(const v1::WorkerCredentials& who, Done<v1::DeregisterResponse> done);

  // ---- replay store (replay_store.cc) ----
  // Validates and stages the samples of one Append message, from the worker
  // whose credentials session->credentials holds. On success the
  // samples are durable once log().WhenDurable(*seq) says so; on error
  // (naming the sample) the samples before the bad one are staged anyway.
  absl::Status AppendMessage(const v1::AppendRequest& message, AppendSession* session, uint64_t* seq);
  // The next page of a Scan; cursor->done when the round is exhausted.
  absl::StatusOr<v1::ScanResponse> ScanPage(const v1::ScanRequest& request, ScanCursor* cursor);
  void Stats(const v1::StatsRequest& request, Done<v1::StatsResponse> done);
  // The next chunk of an export (ml-ssd chat JSONL); cursor->done at the end.
  absl::StatusOr<std::string> ExportPage(const v1::ExportRequest& request, ScanCursor* cursor);
  void Import(const v1::ImportHeader& header, const std::string& jsonl, Done<v1::ImportResponse> done);

  // For tests: runs one scheduler tick now.
  void TickForTest();

 private:
  struct Watcher {
    std::string job_id;
    std::function<void(const v1::Job&)> update;
  };
  // What one operation leaves to do once its writes are durable.
  struct Pending {
    uint64_t seq = 0;
    std::vector<std::pair<std::shared_ptr<Watcher>, v1::Job>> publish;
  };

  // ---- helpers (coordinator.cc) ----
  Pending EndOp() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AfterDurable(Pending pending, std::function<void(const absl::Status&)> then);
  template <typename T>
  void ReplyAfter(Pending pending, absl::StatusOr<T> result, Done<T> done);
  void Write(WriteBatch batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PersistJob(const JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PersistShard(const internal::ShardRecord& rec) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PersistWorker(const WorkerEntry& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PersistCounters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A new JobEntry for `id` whose shard writes go to the commit log.
  JobEntry& NewJobEntry(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkChanged(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::Job Snapshot(const JobEntry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillProgress(const JobEntry& e, v1::StageProgress* p) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  JobEntry* FindJob(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The store's schema version: refuses another, stamps a new store.
  absl::Status CheckSchema();
  absl::Status Recover();
  void TickLoop();
  void Tick() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::string> CreateJob(v1::JobSpec spec, const std::string& peer, bool imported,
                                        std::vector<v1::Problem> problems) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- job progression (job_progression.cc) ----
  // Moves the job through every transition whose condition holds now.
  void Advance(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetState(JobEntry& e, v1::JobState s, int32_t round) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailJob(JobEntry& e, const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartSampling(JobEntry& e, int32_t round) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartEvaluating(JobEntry& e, int32_t round) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunFilter(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartTraining(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AfterTraining(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AfterPush(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AfterEval(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NextRoundOrSucceed(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends every lease of the job (terminal states): workers learn of it at
  // their next heartbeat.
  void ReleaseAllLeases(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- workers and leases (worker_calls.cc) ----
  // Grants shard `s` of `e` to `w` (the Scheduler's grant).
  void Grant(JobEntry& e, Shard& s, WorkerEntry& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job and shard a lease names, checked to be current, leased and held
  // by `worker` (LeaseTable::Check), in a job that is still running.
  absl::StatusOr<std::pair<JobEntry*, Shard*>> CheckLease(const v1::LeaseRef& lease, const WorkerEntry& worker)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns the shard to the queue (counting an attempt unless `graceful`),
  // failing the job when it is out of attempts.
  void ReturnShard(JobEntry& e, Shard& s, const std::string& reason, bool graceful) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseWorker(WorkerEntry& w, const std::string& reason, bool graceful) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLeases() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- reports (work_reports.cc), one per ReportWorkRequest.report ----
  absl::Status OnShardDone(JobEntry& e, Shard& s, WorkerEntry& w, const v1::ShardDone& done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OnFailed(JobEntry& e, Shard& s, WorkerEntry& w, const v1::ReportWorkRequest& r)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OnTrainingProgress(JobEntry& e, Shard& s, WorkerEntry& w, const v1::TrainingProgress& p)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OnTrainingDone(JobEntry& e, Shard& s, WorkerEntry& w, const v1::TrainingDone& d)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OnPushProgress(JobEntry& e, Shard& s, WorkerEntry& w, const v1::PushProgress& p)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OnPushDone(JobEntry& e, Shard& s, WorkerEntry& w, const v1::PushDone& d)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- the replay store (replay_store.cc) ----
  // The view a Scan or Export of `request`'s round reads.
  absl::StatusOr<ScanView> ViewForScan(const v1::ScanRequest& request) ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const CoordinatorOptions options_;
  KvStore* const store_;
  const Clock* const clock_;
  MetricsRegistry* const metrics_;
  std::unique_ptr<CommitLog> log_;
  Counter* leases_granted_ = nullptr;
  Counter* leases_expired_ = nullptr;
  Counter* appends_refused_ = nullptr;

  mutable absl::Mutex mu_;
  std::map<std::string, JobEntry> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> job_order_ ABSL_GUARDED_BY(mu_);  // submission order
  WorkerRegistry workers_ ABSL_GUARDED_BY(mu_);
  SampleStore samples_ ABSL_GUARDED_BY(mu_);
  Scheduler scheduler_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
  int64_t next_watch_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_job_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_worker_ ABSL_GUARDED_BY(mu_) = 1;
  // SubmitJob's request ids: the job each made and the request's digest.
  std::map<std::string, internal::SubmitRecord> requests_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> dirty_ ABSL_GUARDED_BY(mu_);       // jobs to publish after this op
  std::vector<v1::Job> transitions_ ABSL_GUARDED_BY(mu_);  // a snapshot per state change in this op
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread tick_thread_;
};

template <typename T>
inline void Coordinator::ReplyAfter(Pending pending, absl::StatusOr<T> result, Done<T> done) {
  auto shared = std::make_shared<absl::StatusOr<T>>(std::move(result));
  AfterDurable(std::move(pending), [shared, done = std::move(done)](const absl::Status& s) {
    if (!s.ok()) {
      done(absl::UnavailableError(absl::StrCat("the coordinator could not make this durable: ", s.message())));
    } else {
      done(std::move(*shared));
    }
  });
}

}  // namespace ssd

#endif  // SSD_COORDINATOR_COORDINATOR_H_
