// ClusterClient: what `ssd submit/jobs/status/watch/cancel/workers/export/
// import` (and tests) use to talk to a coordinator. Every call has a
// deadline; errors come back as absl::Status with the server's message.
#ifndef SSD_COORDINATOR_CLIENT_CLUSTER_CLIENT_H_
#define SSD_COORDINATOR_CLIENT_CLUSTER_CLIENT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/rpc/channel_builder.h"
#include "ssd/v1/job_service.grpc.pb.h"
#include "ssd/v1/replay_store.grpc.pb.h"
#include "ssd/v1/worker_service.grpc.pb.h"

namespace grpc {
class ClientContext;
}

namespace ssd {

struct ClusterClientOptions {
  ChannelOptions channel;
  int64_t call_timeout_ms = 30000;      // unary calls
  int64_t stream_timeout_ms = 3600000;  // Export, Import
};

class ClusterClient {
 public:
  static absl::StatusOr<std::unique_ptr<ClusterClient>> Connect(const ClusterClientOptions& options);

  // `spec_path` is read here; relative paths inside it are resolved against
  // its folder by the coordinator. The submission carries a fresh request
  // id, and a call that cannot reach the coordinator (UNAVAILABLE, or a
  // deadline) is retried with it a few times: a retry never makes a second
  // job.
  absl::StatusOr<v1::SubmitJobResponse> SubmitFile(const std::string& spec_path);
  absl::StatusOr<v1::SubmitJobResponse> Submit(const std::string& spec_yaml, const std::string& base_dir);
  absl::StatusOr<v1::Job> GetJob(const std::string& job_id);
  // One page, as the request asks.
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request);
  // Every page, up to `limit` jobs (0: all), as one response.
  absl::StatusOr<v1::ListJobsResponse> ListAllJobs(v1::ListJobsRequest request, int64_t limit);
  absl::StatusOr<v1::Job> Cancel(const std::string& job_id, const std::string& reason);
  // Every page.
  absl::StatusOr<v1::ListWorkersResponse> ListWorkers(bool include_gone);
  absl::StatusOr<v1::StatsResponse> Stats(const std::string& job_id);

  // Calls `on_job` for every snapshot until the stream ends (OK once the job
  // is terminal) or `cancel` turns true (CANCELLED). No deadline: a watch
  // lasts as long as the job.
  absl::Status Watch(const std::string& job_id, const std::function<void(const v1::Job&)>& on_job,
                     const std::atomic<bool>* cancel);

  // Writes the round as ml-ssd JSONL to `out_path` atomically; returns lines.
  absl::StatusOr<int64_t> ExportToFile(const v1::ExportRequest& request, const std::string& out_path);
  // Creates a job from an ml-ssd JSONL file and a job spec.
  absl::StatusOr<v1::ImportResponse> ImportFile(const std::string& jsonl_path, const std::string& spec_path);

  v1::JobService::Stub* jobs() { return jobs_.get(); }
  v1::WorkerService::Stub* workers() { return workers_.get(); }
  v1::ReplayStore::Stub* replay_store() { return replay_.get(); }
  const ClusterClientOptions& options() const { return options_; }

 private:
  ClusterClient(const ClusterClientOptions& options, std::shared_ptr<grpc::Channel> channel);

  const ClusterClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
  std::unique_ptr<v1::ReplayStore::Stub> replay_;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_CLIENT_CLUSTER_CLIENT_H_
