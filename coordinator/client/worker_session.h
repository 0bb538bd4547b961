// WorkerSession: a sampler's or trainer's side of the workers' protocol
// (worker_service.proto). It registers (resuming its identity after a
// coordinator restart), sends its credentials as metadata on every call,
// heartbeats on its own thread with the leases the worker says it holds,
// tells the worker which leases were revoked, and retries calls while the
// coordinator is unreachable (a restart must not cost work in flight).
//
// Thread-safe. Start() registers and starts the heartbeat thread;
// Shutdown() stops it (idempotent; the destructor calls it).
#ifndef SSD_COORDINATOR_CLIENT_WORKER_SESSION_H_
#define SSD_COORDINATOR_CLIENT_WORKER_SESSION_H_

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/rpc/channel_builder.h"
#include "ssd/v1/replay_store.grpc.pb.h"
#include "ssd/v1/worker_service.grpc.pb.h"

namespace ssd {

struct WorkerSessionOptions {
  ChannelOptions channel;
  v1::RegisterWorkerRequest registration;  // role, address, capabilities
  int64_t call_timeout_ms = 30000;
  // How long calls keep retrying while the coordinator is unavailable.
  int64_t unavailable_retry_ms = 600000;
};

class WorkerSession {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerSession>> Start(const WorkerSessionOptions& options);
  ~WorkerSession();
  void Shutdown();

  // What RegisterWorker issued: the worker's id and session secret. Calls
  // made through Call carry them already; a call made otherwise (a stream)
  // attaches them with AttachWorkerCredentials.
  v1::WorkerCredentials credentials() const;
  // What the worker holds and works on; sent with every heartbeat and
  // acquire.
  void SetWeightsHeld(std::vector<v1::WeightsRef> held);
  void AddLease(const v1::LeaseRef& lease);
  // Why the worker takes no work now ("" when it does); sent with every
  // heartbeat, so `ssd workers` shows it.
  void SetUnhealthy(std::string why);
  void RemoveLease(const v1::LeaseRef& lease);
  // True once the coordinator revoked `lease` (expired, reassigned, job
  // cancelled); the worker should drop that work.
  bool Revoked(const v1::LeaseRef& lease) const;

  absl::StatusOr<v1::AcquireWorkResponse> Acquire();
  absl::Status Report(v1::ReportWorkRequest request);
  absl::Status Deregister();

  v1::WorkerService::Stub* worker_service() { return workers_.get(); }
  v1::ReplayStore::Stub* replay_store() { return replay_.get(); }
  // Retries `call` (which makes one attempt with the given context, which
  // carries the credentials) while the coordinator is unavailable,
  // re-registering if it forgot us.
  grpc::Status Call(const std::function<grpc::Status(grpc::ClientContext*)>& call, int64_t timeout_ms = 0);

 private:
  explicit WorkerSession(const WorkerSessionOptions& options);
  absl::Status Register();
  void HeartbeatLoop();

  const WorkerSessionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
  std::unique_ptr<v1::ReplayStore::Stub> replay_;

  absl::Mutex register_mu_;  // one registration at a time
  mutable absl::Mutex mu_;
  v1::WorkerCredentials credentials_ ABSL_GUARDED_BY(mu_);
  int64_t heartbeat_ms_ ABSL_GUARDED_BY(mu_) = 3000;
  std::vector<v1::WeightsRef> held_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::LeaseRef> leases_ ABSL_GUARDED_BY(mu_);
  std::string unhealthy_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> revoked_ ABSL_GUARDED_BY(mu_);  // serialized LeaseRefs
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread heartbeat_;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_CLIENT_WORKER_SESSION_H_
