// ssd.v1.WorkerService over gRPC's callback API. Each method reads the
// worker's credentials from the call's metadata (common/rpc/
// worker_credentials.h; UNAUTHENTICATED without them), hands the request to
// the Coordinator and finishes from its callback.
#ifndef SSD_COORDINATOR_SERVER_WORKER_SERVICE_H_
#define SSD_COORDINATOR_SERVER_WORKER_SERVICE_H_

#include "coordinator/coordinator.h"
#include "ssd/v1/worker_service.grpc.pb.h"

namespace ssd {

class WorkerServiceImpl : public v1::WorkerService::CallbackService {
 public:
  // `coordinator` is not owned and must outlive the service.
  explicit WorkerServiceImpl(Coordinator* coordinator) : coordinator_(coordinator) {}

  grpc::ServerUnaryReactor* RegisterWorker(grpc::CallbackServerContext* ctx, const v1::RegisterWorkerRequest* request,
                                           v1::RegisterWorkerResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* ctx, const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* AcquireWork(grpc::CallbackServerContext* ctx, const v1::AcquireWorkRequest* request,
                                        v1::AcquireWorkResponse* response) override;
  grpc::ServerUnaryReactor* ReportWork(grpc::CallbackServerContext* ctx, const v1::ReportWorkRequest* request,
                                       v1::ReportWorkResponse* response) override;
  grpc::ServerUnaryReactor* Deregister(grpc::CallbackServerContext* ctx, const v1::DeregisterRequest* request,
                                       v1::DeregisterResponse* response) override;

 private:
  Coordinator* const coordinator_;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_SERVER_WORKER_SERVICE_H_
