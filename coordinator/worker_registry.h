// WorkerRegistry: the samplers and trainers a coordinator knows, with their
// session secrets (kept only as SHA-256), liveness, the weight versions
// they hold and the leases they work on.
//
// Worker lifecycle:
//
//   RegisterWorker ──► ALIVE ◄──── any authenticated call ────┐
//                        │  silent > worker_timeout_ms         │
//                        ├────────────────────────► DEAD ──────┤
//                        │  Deregister                         │
//                        └────────────────────────► LEFT       │
//   coordinator restart: ALIVE ──► RECOVERING (given the recovery grace) ──┘
//
// A DEAD or RECOVERING worker that calls again is ALIVE again; a LEFT one
// must register anew. Every change of a worker's durable record is handed
// to `persist`.
//
// Not thread-safe: the Coordinator calls it under its mutex.
#ifndef SSD_COORDINATOR_WORKER_REGISTRY_H_
#define SSD_COORDINATOR_WORKER_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/clock.h"
#include "coordinator/lease_table.h"
#include "coordinator/records.pb.h"
#include "ssd/v1/worker_service.pb.h"

namespace ssd {

struct WorkerEntry {
  internal::WorkerRecord rec;
  v1::WorkerState state = v1::WORKER_STATE_ALIVE;
  int64_t last_seen_ms = 0;
  std::set<std::pair<std::string, int32_t>> held;    // (job, weights version)
  std::set<std::pair<std::string, ShardId>> leases;  // (job, shard) it works on
  std::string unhealthy;  // why it takes no work, from its heartbeats; not persisted

  const std::string& id() const { return rec.status().worker_id(); }
  v1::WorkerRole role() const { return rec.status().role(); }
  bool alive() const { return state == v1::WORKER_STATE_ALIVE; }
};

class WorkerRegistry {
 public:
  using Persist = std::function<void(const WorkerEntry&)>;
  // `clock` is not owned and must outlive the registry.
  WorkerRegistry(const Clock* clock, Persist persist);

  // The request's fields, checked before anything changes.
  static absl::Status ValidateRegistration(const v1::RegisterWorkerRequest& request);

  struct Registration {
    WorkerEntry* worker = nullptr;
    std::string session;  // the secret the worker proves itself with
    bool resumed = false;
  };
  // The worker `resume` names when its session matches (it keeps its id and
  // leases), or a new one named by `new_id` (also when `resume` names a
  // worker this registry does not know). Written.
  absl::StatusOr<Registration> Register(const v1::RegisterWorkerRequest& request, const v1::WorkerCredentials* resume,
                                        const std::string& peer,
                                        const std::function<std::string(v1::WorkerRole)>& new_id);
  // The worker `worker_id` if `session` is its secret: NOT_FOUND for an
  // unknown id, PERMISSION_DENIED for a wrong session, FAILED_PRECONDITION
  // for a worker that left. A DEAD or RECOVERING worker is ALIVE again.
  absl::StatusOr<WorkerEntry*> Authenticate(const std::string& worker_id, const std::string& session);

  WorkerEntry* Find(const std::string& id);
  // Replaces what the worker says it holds (at most 1000 versions).
  static void NoteHeld(WorkerEntry& w, const google::protobuf::RepeatedPtrField<v1::WeightsRef>& held);
  // Live samplers with an address that hold `version` of `job_id`.
  std::vector<v1::PushTarget> Holders(const std::string& job_id, int32_t version) const;
  // Every live sampler with an address, in id order: a push chain.
  std::vector<v1::PushTarget> LiveSamplers() const;
  // ALIVE workers of `role`.
  int32_t CountAlive(v1::WorkerRole role) const;
  // Live trainers without a training or push lease; `asking` first.
  std::vector<WorkerEntry*> IdleTrainers(WorkerEntry& asking);
  // ALIVE and RECOVERING workers not heard from for over `timeout_ms`.
  std::vector<WorkerEntry*> Silent(int64_t now_ms, int64_t timeout_ms);
  // Sets the state and writes the record.
  void SetState(WorkerEntry& w, v1::WorkerState state);
  // Forgets every lease of `job_id` (a job that ended).
  void DropJobLeases(const std::string& job_id);

  // A record read back from the store, not written again. A worker that was
  // ALIVE is RECOVERING, heard from at `recovering_seen_ms`.
  void Restore(internal::WorkerRecord rec, int64_t recovering_seen_ms);

  // The status ListWorkers shows (without its leases, which the caller adds).
  v1::WorkerStatus Status(const WorkerEntry& w) const;
  const std::map<std::string, WorkerEntry>& workers() const { return workers_; }
  std::map<std::string, WorkerEntry>& workers() { return workers_; }

 private:
  const Clock* const clock_;
  const Persist persist_;
  std::map<std::string, WorkerEntry> workers_;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_WORKER_REGISTRY_H_
