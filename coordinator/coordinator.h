// Coordinator: the control plane's domain object. It owns every job, shard
// lease, worker and stored sample of a cluster, keeps them in memory under
// one mutex, and writes every change through the CommitLog into RocksDB
// before anyone hears of it. The gRPC services (coordinator_service.h,
// replay_store_service.h) are thin adapters over the methods below.
//
// Implementation files, one concept each:
//   coordinator.cc        start-up, recovery from the store, the tick, users' job API
//   job_progression.cc    the state machine's actions: stage set-up, filter, eval report
//   work_leases.cc        workers: registration, heartbeats, leases, reports, expiry
//   replay_store.cc       samples: append, scan, stats, export, import
//
// Concurrency: every public method may be called from any thread. Methods
// that change state answer through a callback that runs once the change is
// durable (on the commit-log thread, or inline); they never block on I/O
// while holding the mutex.
//
// Scheduling of several jobs: sampler leases rotate over the running jobs
// in submission order (one shard of each in turn), so concurrent jobs
// share the samplers; trainer groups are formed first-come first-served by
// the time a job entered TRAINING, each group taking `train.trainers`
// idle trainers at once (a partial group is never held).
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
#include "ssd/v1/coordinator.pb.h"
#include "ssd/v1/job.pb.h"
#include "ssd/v1/replay_store.pb.h"
#include "ssd/v1/state.pb.h"

namespace ssd {

class Counter;
class MetricsRegistry;

template <typename T>
using Done = std::function<void(absl::StatusOr<T>)>;

// Tracks one Append stream across its messages.
struct AppendSession {
  v1::WorkerIdentity identity;
  v1::LeaseRef lease;
  bool started = false;
  int64_t messages = 0;
  int64_t accepted = 0;
  int64_t duplicates = 0;
};

// Where a Scan or Export continues.
struct ScanCursor {
  std::string next_key;  // "" before the first page
  int64_t ordinal = 0;   // selected samples seen so far (for rank/world)
  bool done = false;
};

class Coordinator {
 public:
  // `store`, `clock` and `metrics` are not owned and must outlive it;
  // `metrics` may be null.
  Coordinator(const CoordinatorOptions& options, KvStore* store, const Clock* clock, MetricsRegistry* metrics);
  ~Coordinator();

  // Loads every job, shard, worker and sample index from the store (leases
  // and workers get options.recovery_grace_ms to be renewed), then starts
  // the commit log and the tick thread.
  absl::Status Start();
  // Stops the tick, commits what is queued. Idempotent.
  void Shutdown();
  // OK while the store accepts writes.
  absl::Status Health() const;
  CommitLog& log() { return *log_; }

  // ---- users ----
  void SubmitJob(const v1::SubmitJobRequest& request, const std::string& peer, Done<v1::SubmitJobResponse> done);
  void GetJob(const std::string& job_id, Done<v1::Job> done);
  void ListJobs(const v1::ListJobsRequest& request, Done<v1::ListJobsResponse> done);
  void CancelJob(const v1::CancelJobRequest& request, Done<v1::Job> done);
  // Calls `update` with the job now, then with the job after every durable
  // change (progress-only changes at most every watch_progress_interval_ms).
  // Returns a handle for Unwatch. `update` runs on coordinator threads and
  // must not call back into the coordinator.
  absl::StatusOr<int64_t> Watch(const std::string& job_id, std::function<void(const v1::Job&)> update);
  void Unwatch(int64_t watch_id);
  void ListWorkers(const v1::ListWorkersRequest& request, Done<v1::ListWorkersResponse> done);

  // ---- workers (work_leases.cc) ----
  void RegisterWorker(const v1::RegisterWorkerRequest& request, const std::string& peer,
                      Done<v1::RegisterWorkerResponse> done);
  void Heartbeat(const v1::HeartbeatRequest& request, Done<v1::HeartbeatResponse> done);
  void AcquireWork(const v1::AcquireWorkRequest& request, Done<v1::AcquireWorkResponse> done);
  void ReportWork(const v1::ReportWorkRequest& request, Done<v1::ReportWorkResponse> done);
  void Deregister(const v1::DeregisterRequest& request, Done<v1::DeregisterResponse> done);

  // ---- replay store (replay_store.cc) ----
  // Validates and stages the samples of one Append message. On success the
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
  using ShardId = std::tuple<int32_t, int32_t, int32_t>;  // round, LeaseKind, shard
  struct ShardEntry {
    v1::ShardRecord rec;
    int64_t expiry_ms = 0;  // LEASED sample/eval shards
  };
  struct Features {
    int64_t chars = 0;
    int64_t tokens = 0;
    int64_t bytes = 0;
    bool empty = false;
    bool single_line = false;
  };
  struct SampleRound {
    int64_t n = 0;
    int64_t problems = 0;
    std::vector<uint64_t> present;  // bit p * n + s
    std::vector<Features> features;  // by p * n + s, valid where present
    int64_t count = 0;
    int64_t bytes = 0;
    int64_t tokens = 0;
    bool Has(int64_t slot) const { return (present[slot >> 6] >> (slot & 63)) & 1; }
    void Set(int64_t slot) { present[slot >> 6] |= uint64_t{1} << (slot & 63); }
  };
  struct RatePoint {
    int64_t t_ms;
    int64_t samples;
    int64_t tokens;
  };
  struct JobEntry {
    v1::Job job;  // durable fields; progress is filled in on read
    std::vector<v1::Problem> problems;  // sampling problems
    absl::flat_hash_map<std::string, uint32_t> problem_index;
    std::vector<v1::Problem> eval_problems;  // id, difficulty (benchmark lines stay in the store)
    absl::flat_hash_map<std::string, uint32_t> eval_index;
    std::map<int32_t, SampleRound> samples;
    // round -> (eval problem, setting) -> outcome; setting = truncation index x
    // temperatures + temperature index (store_schema.h).
    std::map<int32_t, std::map<std::pair<uint32_t, uint16_t>, v1::EvalOutcome>> evals;
    std::map<ShardId, ShardEntry> shards;
    // Indexes over `shards`, kept by AddShard/SetShardState so that no
    // lease operation walks every shard of a big job.
    std::set<ShardId> queued;
    std::set<ShardId> leased;
    std::map<std::tuple<int32_t, int32_t, int32_t>, int64_t> shard_counts;  // (round, kind, state) -> shards
    std::vector<RatePoint> rate;  // recent (time, samples, tokens), for samples/s
    v1::StageProgress live;  // training and push progress from reports
    bool progress_dirty = false;
    int64_t last_publish_ms = 0;
  };
  struct WorkerEntry {
    v1::WorkerRecord rec;
    v1::WorkerState state = v1::WORKER_STATE_ALIVE;
    int64_t last_seen_ms = 0;
    std::set<std::pair<std::string, int32_t>> held;  // (job, weights version)
    std::set<std::pair<std::string, ShardId>> leases;
  };
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
  void PersistJob(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PersistShard(const ShardEntry& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PersistWorker(const WorkerEntry& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkChanged(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds a new shard (persisted) and moves one between states, keeping
  // the job's shard indexes.
  ShardEntry& AddShard(JobEntry& e, ShardEntry s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetShardState(JobEntry& e, ShardEntry& s, v1::ShardState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t ShardCount(const JobEntry& e, int32_t round, v1::LeaseKind kind, v1::ShardState state) const;
  static void IndexShard(JobEntry& e, const ShardEntry& s, int delta);
  v1::Job Snapshot(const JobEntry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillProgress(const JobEntry& e, v1::StageProgress* p) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  JobEntry* FindJob(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
  // Queued shards of `size` consecutive problems each, over `problems`.
  void AddRangeShards(JobEntry& e, int32_t round, v1::LeaseKind kind, int64_t problems, int32_t size)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
  bool StageShardsDone(const JobEntry& e, v1::LeaseKind kind) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  SampleRound& RoundSamples(JobEntry& e, int32_t round) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<double> EvalTemperatures(const JobEntry& e, int32_t round) const;
  uint64_t SeedFor(const JobEntry& e, v1::LeaseKind kind, int32_t round) const;

  // ---- workers and leases (work_leases.cc) ----
  absl::StatusOr<WorkerEntry*> Authenticate(const v1::WorkerIdentity& identity) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The shard a lease names, checked to be current, leased and held by
  // `worker`: FAILED_PRECONDITION for stale epochs or finished work,
  // PERMISSION_DENIED for another worker's lease.
  absl::StatusOr<std::pair<JobEntry*, ShardEntry*>> CheckLease(const v1::LeaseRef& lease, const WorkerEntry& worker)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns the shard to the queue (counting an attempt unless `graceful`),
  // failing the job when it is out of attempts.
  void ReturnShard(JobEntry& e, ShardEntry& s, const std::string& reason, bool graceful)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseWorker(WorkerEntry& w, const std::string& reason, bool graceful) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteHeld(WorkerEntry& w, const google::protobuf::RepeatedPtrField<v1::WeightsRef>& held)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::AcquireWorkResponse AcquireForSampler(WorkerEntry& w, std::vector<std::string>* eval_keys)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::AcquireWorkResponse AcquireForTrainer(WorkerEntry& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Grant(JobEntry& e, ShardEntry& s, WorkerEntry& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::LeaseRef RefOf(const ShardEntry& s) const;
  v1::TrainingAssignment TrainingFor(const JobEntry& e, const ShardEntry& s, int rank) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::PushAssignment PushFor(const JobEntry& e, const ShardEntry& s) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReportShardDone(JobEntry& e, ShardEntry& s, WorkerEntry& w, const v1::ShardDone& done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLeases() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<v1::PushTarget> Holders(const std::string& job_id, int32_t version) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const CoordinatorOptions options_;
  KvStore* const store_;
  const Clock* const clock_;
  MetricsRegistry* const metrics_;
  std::unique_ptr<CommitLog> log_;
  Counter* leases_granted_ = nullptr;
  Counter* leases_expired_ = nullptr;
  Counter* samples_appended_ = nullptr;
  Counter* sample_bytes_appended_ = nullptr;
  Counter* duplicates_ignored_ = nullptr;
  Counter* appends_refused_ = nullptr;

  mutable absl::Mutex mu_;
  std::map<std::string, JobEntry> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> job_order_ ABSL_GUARDED_BY(mu_);  // submission order
  size_t sampler_cursor_ ABSL_GUARDED_BY(mu_) = 0;  // rotation over running jobs
  std::map<std::string, WorkerEntry> workers_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
  int64_t next_watch_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_job_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_worker_ ABSL_GUARDED_BY(mu_) = 1;
  std::set<std::string> dirty_ ABSL_GUARDED_BY(mu_);  // jobs to publish after this op
  std::vector<v1::Job> transitions_ ABSL_GUARDED_BY(mu_);  // a snapshot per state change in this op
  int64_t duplicates_total_ ABSL_GUARDED_BY(mu_) = 0;
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
