// ssd.v1.JobService over gRPC's callback API: each method hands the request
// to the Coordinator and finishes from its callback. SubmitJob reads files,
// so it runs on an executor, never in a reaction.
#ifndef SSD_COORDINATOR_SERVER_JOB_SERVICE_H_
#define SSD_COORDINATOR_SERVER_JOB_SERVICE_H_

#include "coordinator/coordinator.h"
#include "coordinator/server/executor.h"
#include "coordinator/server/stream_limiter.h"
#include "ssd/v1/job_service.grpc.pb.h"

namespace ssd {

class JobServiceImpl : public v1::JobService::CallbackService {
 public:
  // None is owned; all must outlive the service. `streams` bounds WatchJob
  // streams per client.
  JobServiceImpl(Coordinator* coordinator, Executor* executor, StreamLimiter* streams)
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

 private:
  Coordinator* const coordinator_;
  Executor* const executor_;
  StreamLimiter* const streams_;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_SERVER_JOB_SERVICE_H_
