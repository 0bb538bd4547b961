#include "coordinator/server/worker_service.h"

#include "common/rpc/status_conversion.h"
#include "common/rpc/worker_credentials.h"
#include "coordinator/server/service_util.h"

namespace ssd {

grpc::ServerUnaryReactor* WorkerServiceImpl::RegisterWorker(grpc::CallbackServerContext* ctx,
                                                            const v1::RegisterWorkerRequest* request,
                                                            v1::RegisterWorkerResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!HasWorkerCredentials(*ctx)) {
    coordinator_->RegisterWorker(*request, nullptr, ctx->peer(), FinishWith(reactor, response));
    return reactor;
  }
  absl::StatusOr<v1::WorkerCredentials> resume = WorkerCredentialsOf(*ctx);
  if (!resume.ok()) {
    reactor->Finish(ToGrpcStatus(resume.status()));
    return reactor;
  }
  coordinator_->RegisterWorker(*request, &*resume, ctx->peer(), FinishWith(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Heartbeat(grpc::CallbackServerContext* ctx,
                                                       const v1::HeartbeatRequest* request,
                                                       v1::HeartbeatResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<v1::WorkerCredentials> who = WorkerCredentialsOf(*ctx);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
  } else {
    coordinator_->Heartbeat(*who, *request, FinishWith(reactor, response));
  }
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::AcquireWork(grpc::CallbackServerContext* ctx,
                                                         const v1::AcquireWorkRequest* request,
                                                         v1::AcquireWorkResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<v1::WorkerCredentials> who = WorkerCredentialsOf(*ctx);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
  } else {
    coordinator_->AcquireWork(*who, *request, FinishWith(reactor, response));
  }
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportWork(grpc::CallbackServerContext* ctx,
                                                        const v1::ReportWorkRequest* request,
                                                        v1::ReportWorkResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<v1::WorkerCredentials> who = WorkerCredentialsOf(*ctx);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
  } else {
    coordinator_->ReportWork(*who, *request, FinishWith(reactor, response));
  }
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Deregister(grpc::CallbackServerContext* ctx,
                                                        const v1::DeregisterRequest* request,
                                                        v1::DeregisterResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<v1::WorkerCredentials> who = WorkerCredentialsOf(*ctx);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
  } else {
    coordinator_->Deregister(*who, FinishWith(reactor, response));
  }
  return reactor;
}

}  // namespace ssd
