#include "coordinator/client/cluster_client.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/rpc/status_conversion.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

absl::Status Rpc(const grpc::Status& s, const std::string& what, const std::string& target) {
  if (s.ok()) return absl::OkStatus();
  absl::Status a = FromGrpcStatus(s);
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::Status(a.code(), absl::StrCat(what, ": cannot reach the coordinator at ", target, " (", a.message(),
                                               "); is it running, and are --coordinator and TLS right?"));
  }
  return a;
}

// 128 random bits in hex: a SubmitJob request id no other client picks.
std::string NewRequestId() {
  std::random_device rd;
  std::string id;
  for (int i = 0; i < 4; ++i) absl::StrAppend(&id, absl::Hex(rd(), absl::kZeroPad8));
  return id;
}

}  // namespace

ClusterClient::ClusterClient(const ClusterClientOptions& options, std::shared_ptr<grpc::Channel> channel)
    : options_(options),
      channel_(std::move(channel)),
      jobs_(v1::JobService::NewStub(channel_)),
      workers_(v1::WorkerService::NewStub(channel_)),
      replay_(v1::ReplayStore::NewStub(channel_)) {}

absl::StatusOr<std::unique_ptr<ClusterClient>> ClusterClient::Connect(const ClusterClientOptions& options) {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, MakeChannel(options.channel));
  return std::unique_ptr<ClusterClient>(new ClusterClient(options, std::move(channel)));
}

absl::StatusOr<v1::SubmitJobResponse> ClusterClient::SubmitFile(const std::string& spec_path) {
  auto yaml = ReadFileToString(spec_path, 16 << 20);
  if (!yaml.ok()) return absl::InvalidArgumentError(absl::StrCat("job spec: ", yaml.status().message()));
  return Submit(*yaml, ContainingDir(spec_path));
}

absl::StatusOr<v1::SubmitJobResponse> ClusterClient::Submit(const std::string& spec_yaml, const std::string& base_dir) {
  v1::SubmitJobRequest req;
  req.set_spec_yaml(spec_yaml);
  req.set_base_dir(base_dir);
  req.set_request_id(NewRequestId());
  v1::SubmitJobResponse resp;
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    auto ctx = CallContext(options_.call_timeout_ms);
    const grpc::Status s = jobs_->SubmitJob(ctx.get(), req, &resp);
    const bool retry =
        s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (!retry || attempt == kAttempts) {
      RETURN_IF_ERROR(Rpc(s, "SubmitJob", options_.channel.target));
      return resp;
    }
    // The same request_id: if the first attempt made the job, this returns it.
    std::this_thread::sleep_for(std::chrono::milliseconds(500 * attempt));
  }
}

absl::StatusOr<v1::Job> ClusterClient::GetJob(const std::string& job_id) {
  v1::GetJobRequest req;
  req.set_job_id(job_id);
  v1::Job job;
  auto ctx = CallContext(options_.call_timeout_ms);
  RETURN_IF_ERROR(Rpc(jobs_->GetJob(ctx.get(), req, &job), "GetJob", options_.channel.target));
  return job;
}

absl::StatusOr<v1::ListJobsResponse> ClusterClient::ListJobs(const v1::ListJobsRequest& request) {
  v1::ListJobsResponse resp;
  auto ctx = CallContext(options_.call_timeout_ms);
  RETURN_IF_ERROR(Rpc(jobs_->ListJobs(ctx.get(), request, &resp), "ListJobs", options_.channel.target));
  return resp;
}

absl::StatusOr<v1::ListJobsResponse> ClusterClient::ListAllJobs(v1::ListJobsRequest request, int64_t limit) {
  v1::ListJobsResponse all;
  do {
    ASSIGN_OR_RETURN(v1::ListJobsResponse page, ListJobs(request));
    for (v1::Job& j : *page.mutable_jobs()) {
      if (limit > 0 && all.jobs_size() >= limit) return all;
      *all.add_jobs() = std::move(j);
    }
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  return all;
}

absl::StatusOr<v1::Job> ClusterClient::Cancel(const std::string& job_id, const std::string& reason) {
  v1::CancelJobRequest req;
  req.set_job_id(job_id);
  req.set_reason(reason);
  v1::Job job;
  auto ctx = CallContext(options_.call_timeout_ms);
  RETURN_IF_ERROR(Rpc(jobs_->CancelJob(ctx.get(), req, &job), "CancelJob", options_.channel.target));
  return job;
}

absl::StatusOr<v1::ListWorkersResponse> ClusterClient::ListWorkers(bool include_gone) {
  v1::ListWorkersRequest req;
  req.set_include_gone(include_gone);
  v1::ListWorkersResponse all;
  do {
    v1::ListWorkersResponse page;
    auto ctx = CallContext(options_.call_timeout_ms);
    RETURN_IF_ERROR(Rpc(jobs_->ListWorkers(ctx.get(), req, &page), "ListWorkers", options_.channel.target));
    for (v1::WorkerStatus& w : *page.mutable_workers()) *all.add_workers() = std::move(w);
    req.set_page_token(page.next_page_token());
  } while (!req.page_token().empty());
  return all;
}

absl::StatusOr<v1::StatsResponse> ClusterClient::Stats(const std::string& job_id) {
  v1::StatsRequest req;
  req.set_job_id(job_id);
  v1::StatsResponse resp;
  auto ctx = CallContext(options_.call_timeout_ms);
  RETURN_IF_ERROR(Rpc(replay_->Stats(ctx.get(), req, &resp), "Stats", options_.channel.target));
  return resp;
}

absl::Status ClusterClient::Watch(const std::string& job_id, const std::function<void(const v1::Job&)>& on_job,
                                  const std::atomic<bool>* cancel) {
  grpc::ClientContext ctx;
  v1::WatchJobRequest req;
  req.set_job_id(job_id);
  std::atomic<bool> done{false};
  // Ctrl-C (or the caller) cancels the call from a helper thread, since
  // Read blocks.
  std::thread canceller([&] {
    while (!done.load()) {
      if (cancel != nullptr && cancel->load()) {
        ctx.TryCancel();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto reader = jobs_->WatchJob(&ctx, req);
  v1::Job job;
  while (reader->Read(&job)) on_job(job);
  grpc::Status s = reader->Finish();
  done.store(true);
  canceller.join();
  if (cancel != nullptr && cancel->load()) return absl::CancelledError("detached");
  return Rpc(s, "WatchJob", options_.channel.target);
}

absl::StatusOr<int64_t> ClusterClient::ExportToFile(const v1::ExportRequest& request, const std::string& out_path) {
  ASSIGN_OR_RETURN(AtomicFileWriter out, AtomicFileWriter::Open(out_path));
  auto ctx = CallContext(options_.stream_timeout_ms);
  auto reader = replay_->Export(ctx.get(), request);
  v1::ExportChunk chunk;
  int64_t lines = 0;
  absl::Status write_error;
  while (reader->Read(&chunk)) {
    for (char c : chunk.jsonl()) lines += c == '\n';
    if (write_error.ok()) write_error = out.Append(chunk.jsonl());
  }
  RETURN_IF_ERROR(Rpc(reader->Finish(), "Export", options_.channel.target));
  RETURN_IF_ERROR(write_error);
  RETURN_IF_ERROR(out.Commit());
  return lines;
}

absl::StatusOr<v1::ImportResponse> ClusterClient::ImportFile(const std::string& jsonl_path,
                                                             const std::string& spec_path) {
  auto yaml = ReadFileToString(spec_path, 16 << 20);
  if (!yaml.ok()) return absl::InvalidArgumentError(absl::StrCat("--spec: ", yaml.status().message()));
  auto data = ReadFileToString(jsonl_path, size_t{4} << 30);
  if (!data.ok()) return absl::InvalidArgumentError(absl::StrCat("import: ", data.status().message()));
  auto ctx = CallContext(options_.stream_timeout_ms);
  v1::ImportResponse resp;
  auto writer = replay_->Import(ctx.get(), &resp);
  v1::ImportRequest header;
  header.mutable_header()->set_spec_yaml(*yaml);
  header.mutable_header()->set_base_dir(ContainingDir(spec_path));
  header.mutable_header()->set_source_name(jsonl_path);
  bool ok = writer->Write(header);
  constexpr size_t kChunk = 4 << 20;
  for (size_t off = 0; ok && off < data->size(); off += kChunk) {
    v1::ImportRequest part;
    part.set_jsonl(data->substr(off, kChunk));
    ok = writer->Write(part);
  }
  writer->WritesDone();
  RETURN_IF_ERROR(Rpc(writer->Finish(), "Import", options_.channel.target));
  return resp;
}

}  // namespace ssd
