#include "tests/cluster/in_process_coordinator.h"

#include "absl/strings/str_cat.h"
#include "common/rpc/status_conversion.h"
#include "common/rpc/worker_credentials.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "coordinator/client/worker_session.h"
#include "coordinator/store_schema.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

constexpr char kToken[] = "in-process-coordinator-token";

}  // namespace

CoordinatorOptions InProcessCoordinator::FastOptions() {
  CoordinatorOptions o;
  o.lease_ttl_ms = 2000;
  o.heartbeat_interval_ms = 100;
  o.worker_timeout_ms = 5000;
  o.recovery_grace_ms = 2000;
  o.tick_ms = 20;
  o.idle_retry_ms = 50;
  return o;
}

InProcessCoordinator::InProcessCoordinator(CoordinatorOptions options)
    : options_(std::move(options)), store_(std::make_unique<InMemoryKvStore>(CoordinatorTables())) {}

InProcessCoordinator::~InProcessCoordinator() { Stop(); }

absl::Status InProcessCoordinator::Start() {
  if (server_ != nullptr) return absl::OkStatus();
  CoordinatorServerOptions o;
  o.coordinator = options_;
  o.rpc.listen_address = absl::StrCat("127.0.0.1:", port_);
  o.rpc.security.insecure = true;
  o.rpc.security.token = kToken;
  ASSIGN_OR_RETURN(server_, CoordinatorServer::StartOn(o, store_.get(), &clock_));
  port_ = server_->port();
  return absl::OkStatus();
}

void InProcessCoordinator::Stop() {
  if (server_ == nullptr) return;
  server_->Shutdown();
  server_.reset();
}

void InProcessCoordinator::ForgetEverything() {
  if (server_ == nullptr) store_ = std::make_unique<InMemoryKvStore>(CoordinatorTables());
}

std::string InProcessCoordinator::address() const { return absl::StrCat("127.0.0.1:", port_); }

ChannelOptions InProcessCoordinator::Channel() const {
  ChannelOptions c;
  c.target = address();
  c.security.insecure = true;
  c.security.token = kToken;
  c.max_reconnect_backoff_ms = 200;
  return c;
}

std::unique_ptr<ClusterClient> InProcessCoordinator::Client() const {
  ClusterClientOptions o;
  o.channel = Channel();
  o.call_timeout_ms = 10000;
  auto c = ClusterClient::Connect(o);
  return c.ok() ? std::move(*c) : nullptr;
}

std::string InProcessCoordinator::SamplingSpec(int problems, int shard_size, int n, const std::string& extra) const {
  std::string lines;
  for (int i = 0; i < problems; ++i) {
    absl::StrAppend(&lines,
                    nlohmann::json{{"id", absl::StrCat("p", i)}, {"prompt", absl::StrCat("problem ", i)}}.dump(), "\n");
  }
  const std::string path = JoinPath(dir_, "problems.jsonl");
  (void)WriteFileAtomically(path, lines);
  return absl::StrCat("name: in-process\nmodel: ", JoinPath(dir_, "model"), "\nproblems: ", path,
                      "\nshard_size: ", shard_size, "\nsampling:\n  n: ", n, "\n  seed: 11\n", extra);
}

std::string InProcessCoordinator::SampledText(const std::string& problem, int64_t index) {
  // Lengths differ per sample, so that a length filter has something to cut.
  return absl::StrCat("def solve():\n", std::string(static_cast<size_t>(4 * (index + 1)), ' '), "return '", problem,
                      "#", index, "'\n");
}

absl::StatusOr<int64_t> InProcessCoordinator::SampleEverything(const std::string& job_id) {
  WorkerSessionOptions o;
  o.channel = Channel();
  o.registration.set_role(v1::WORKER_ROLE_SAMPLER);
  o.registration.set_address("127.0.0.1:1");
  o.call_timeout_ms = 5000;
  ASSIGN_OR_RETURN(std::unique_ptr<WorkerSession> session, WorkerSession::Start(o));
  int64_t appended = 0;
  for (;;) {
    ASSIGN_OR_RETURN(v1::AcquireWorkResponse work, session->Acquire());
    if (!work.has_shard() || work.shard().lease().job_id() != job_id) break;
    const v1::ShardLease& lease = work.shard();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    AttachWorkerCredentials(session->credentials(), &ctx);
    v1::AppendResponse ack;
    auto writer = session->replay_store()->Append(&ctx, &ack);
    v1::AppendRequest m;
    *m.mutable_lease() = lease.lease();
    for (const v1::ProblemTask& t : lease.tasks()) {
      for (int64_t i : t.sample_indices()) {
        v1::Sample* s = m.add_samples();
        s->set_problem_id(t.problem().id());
        s->set_sample_index(i);
        s->set_text(SampledText(t.problem().id(), i));
        s->set_num_tokens(static_cast<int32_t>(s->text().size() / 4));
        s->set_finish_reason(v1::FINISH_REASON_STOP);
        ++appended;
      }
    }
    writer->Write(m);
    writer->WritesDone();
    const grpc::Status st = writer->Finish();
    if (!st.ok()) return FromGrpcStatus(st);
    v1::ReportWorkRequest done;
    *done.mutable_lease() = lease.lease();
    done.mutable_shard_done();
    RETURN_IF_ERROR(session->Report(done));
  }
  RETURN_IF_ERROR(session->Deregister());
  return appended;
}

}  // namespace ssd
