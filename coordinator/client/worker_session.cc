#include "coordinator/client/worker_session.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/rpc/status_conversion.h"
#include "common/rpc/worker_credentials.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

bool Retryable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

}  // namespace

WorkerSession::WorkerSession(const WorkerSessionOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<WorkerSession>> WorkerSession::Start(const WorkerSessionOptions& options) {
  std::unique_ptr<WorkerSession> s(new WorkerSession(options));
  ASSIGN_OR_RETURN(s->channel_, MakeChannel(options.channel));
  s->workers_ = v1::WorkerService::NewStub(s->channel_);
  s->replay_ = v1::ReplayStore::NewStub(s->channel_);
  RETURN_IF_ERROR(s->Register());
  s->heartbeat_ = std::thread([p = s.get()] { p->HeartbeatLoop(); });
  return s;
}

WorkerSession::~WorkerSession() { Shutdown(); }

void WorkerSession::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (heartbeat_.joinable()) heartbeat_.join();
}

v1::WorkerCredentials WorkerSession::credentials() const {
  absl::MutexLock lock(&mu_);
  return credentials_;
}

void WorkerSession::SetWeightsHeld(std::vector<v1::WeightsRef> held) {
  absl::MutexLock lock(&mu_);
  held_ = std::move(held);
}

void WorkerSession::SetUnhealthy(std::string why) {
  absl::MutexLock lock(&mu_);
  unhealthy_ = std::move(why);
}

void WorkerSession::AddLease(const v1::LeaseRef& lease) {
  absl::MutexLock lock(&mu_);
  leases_.push_back(lease);
}

void WorkerSession::RemoveLease(const v1::LeaseRef& lease) {
  absl::MutexLock lock(&mu_);
  const std::string key = lease.SerializeAsString();
  for (auto it = leases_.begin(); it != leases_.end(); ++it) {
    if (it->SerializeAsString() == key) {
      leases_.erase(it);
      break;
    }
  }
  revoked_.erase(key);
}

bool WorkerSession::Revoked(const v1::LeaseRef& lease) const {
  absl::MutexLock lock(&mu_);
  return revoked_.count(lease.SerializeAsString()) > 0;
}

absl::Status WorkerSession::Register() {
  absl::MutexLock one(&register_mu_);
  v1::RegisterWorkerRequest req = options_.registration;
  v1::WorkerCredentials resume;
  {
    absl::MutexLock lock(&mu_);
    resume = credentials_;
    for (const v1::WeightsRef& r : held_) *req.add_weights_held() = r;
  }
  v1::RegisterWorkerResponse resp;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.unavailable_retry_ms);
  for (;;) {
    auto ctx = CallContext(options_.call_timeout_ms, /*wait_for_ready=*/true);
    // Registered before: the same credentials resume the same worker.
    if (!resume.worker_id().empty()) AttachWorkerCredentials(resume, ctx.get());
    const grpc::Status s = workers_->RegisterWorker(ctx.get(), req, &resp);
    if (s.ok()) break;
    if (!Retryable(s) || std::chrono::steady_clock::now() > deadline) {
      return absl::Status(FromGrpcStatus(s).code(), absl::StrCat("registering with the coordinator at ",
                                                                 options_.channel.target, ": ", s.error_message()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  absl::MutexLock lock(&mu_);
  credentials_ = resp.credentials();
  heartbeat_ms_ = resp.heartbeat_interval_ms();
  LOG(INFO) << (resp.resumed() ? "resumed as " : "registered as ") << credentials_.worker_id() << " with "
            << options_.channel.target;
  return absl::OkStatus();
}

grpc::Status WorkerSession::Call(const std::function<grpc::Status(grpc::ClientContext*)>& call, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.unavailable_retry_ms);
  for (int attempt = 0;; ++attempt) {
    auto ctx = CallContext(timeout_ms > 0 ? timeout_ms : options_.call_timeout_ms, /*wait_for_ready=*/true);
    AttachWorkerCredentials(credentials(), ctx.get());
    const grpc::Status s = call(ctx.get());
    if (s.error_code() == grpc::StatusCode::NOT_FOUND &&
        s.error_message().find("is not registered") != std::string::npos && attempt < 3) {
      LOG(WARNING) << "the coordinator forgot this worker; registering again";
      (void)Register();
      continue;
    }
    if (!Retryable(s) || std::chrono::steady_clock::now() > deadline) return s;
    if (attempt == 0) LOG(WARNING) << "coordinator unavailable, retrying: " << s.error_message();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

absl::StatusOr<v1::AcquireWorkResponse> WorkerSession::Acquire() {
  v1::AcquireWorkResponse resp;
  const grpc::Status s = Call([&](grpc::ClientContext* ctx) {
    v1::AcquireWorkRequest req;
    {
      absl::MutexLock lock(&mu_);
      for (const v1::WeightsRef& r : held_) *req.add_weights_held() = r;
    }
    return workers_->AcquireWork(ctx, req, &resp);
  });
  if (!s.ok()) return FromGrpcStatus(s);
  return resp;
}

absl::Status WorkerSession::Report(v1::ReportWorkRequest request) {
  v1::ReportWorkResponse resp;
  const grpc::Status s = Call([&](grpc::ClientContext* ctx) { return workers_->ReportWork(ctx, request, &resp); });
  return FromGrpcStatus(s);
}

absl::Status WorkerSession::Deregister() {
  v1::DeregisterRequest req;
  v1::DeregisterResponse resp;
  auto ctx = CallContext(10000);
  AttachWorkerCredentials(credentials(), ctx.get());
  return FromGrpcStatus(workers_->Deregister(ctx.get(), req, &resp));
}

void WorkerSession::HeartbeatLoop() {
  for (;;) {
    int64_t wait_ms = 0;
    {
      absl::MutexLock lock(&mu_);
      wait_ms = heartbeat_ms_;
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(wait_ms))) return;
    }
    v1::HeartbeatRequest req;
    v1::WorkerCredentials credentials;
    {
      absl::MutexLock lock(&mu_);
      credentials = credentials_;
      for (const v1::WeightsRef& r : held_) *req.add_weights_held() = r;
      for (const v1::LeaseRef& l : leases_) *req.add_leases() = l;
      req.set_unhealthy(unhealthy_);
    }
    v1::HeartbeatResponse resp;
    auto ctx = CallContext(std::max<int64_t>(1000, wait_ms));
    AttachWorkerCredentials(credentials, ctx.get());
    const grpc::Status s = workers_->Heartbeat(ctx.get(), req, &resp);
    if (!s.ok()) {
      if (s.error_code() == grpc::StatusCode::NOT_FOUND) (void)Register();
      continue;  // unavailable: the next beat tries again
    }
    absl::MutexLock lock(&mu_);
    if (resp.heartbeat_interval_ms() > 0) heartbeat_ms_ = resp.heartbeat_interval_ms();
    for (const v1::LeaseRef& r : resp.revoked()) {
      if (revoked_.insert(r.SerializeAsString()).second) {
        LOG(WARNING) << "lease revoked by the coordinator: " << r.job_id() << " round " << r.round() << " shard "
                     << r.shard() << " epoch " << r.epoch();
      }
    }
  }
}

}  // namespace ssd
