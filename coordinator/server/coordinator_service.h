// ssd.v1.Coordinator over gRPC's callback API: each method hands the
// request to the Coordinator and finishes from its callback. Work that
// reads files (SubmitJob) runs on an executor, never in a reaction.
#ifndef SSD_COORDINATOR_SERVER_COORDINATOR_SERVICE_H_
#define SSD_COORDINATOR_SERVER_COORDINATOR_SERVICE_H_

#include "coordinator/coordinator.h"
#include "coordinator/server/executor.h"
#include "coordinator/server/stream_limiter.h"
#include "ssd/v1/coordinator.grpc.pb.h"

namespace ssd {

// A streaming call refused before it started (over the stream limit): it
// finishes at once with `status`.
template <typename Msg>
class RefusedWriter : public grpc::ServerWriteReactor<Msg> {
 public:
  explicit RefusedWriter(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};
template <typename Msg>
class RefusedReader : public grpc::ServerReadReactor<Msg> {
 public:
  explicit RefusedReader(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

class CoordinatorService : public v1::Coordinator::CallbackService {
 public:
  // Neither is owned; both must outlive the service.
  // `streams` bounds WatchJob streams per client; not owned.
  CoordinatorService(Coordinator* coordinator, Executor* executor, StreamLimiter* streams)
      : coordinator_(coordinator), executor_(executor), streams_(streams) {}

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* ctx, const v1::SubmitJobRequest* request,
                                      v1::SubmitJobResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx, const v1::GetJobRequest* request,
                                   v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* ctx, const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* ctx, const v1::CancelJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerWriteReactor<v1::Job>* WatchJob(grpc::CallbackServerContext* ctx,
                                              const v1::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* ctx, const v1::ListWorkersRequest* request,
                                        v1::ListWorkersResponse* response) override;
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
  Executor* const executor_;
  StreamLimiter* const streams_;
};

// Finishes `reactor` with `result`, moving the value into `response`.
template <typename T>
std::function<void(absl::StatusOr<T>)> FinishWith(grpc::ServerUnaryReactor* reactor, T* response);

}  // namespace ssd

#endif  // SSD_COORDINATOR_SERVER_COORDINATOR_SERVICE_H_
