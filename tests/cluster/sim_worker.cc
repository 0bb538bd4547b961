// ssd_sim_worker: a simulated sampler or trainer for control-plane tests and
// benchmarks. It speaks the real RPCs (register, heartbeat, acquire, append,
// report) and fakes only the model: sample texts, eval outcomes and
// training steps are deterministic functions of the job, problem and index,
// so a re-run shard produces bitwise the same samples.
//
//   ssd_sim_worker --coordinator HOST:PORT --certs DIR --role sampler|trainer
//       [--sample-ms 5] [--per-message 4] [--text-bytes 0] [--pause-after N]
//       [--train-steps 5] [--step-ms 20] [--name NAME]
//
// --pause-after N: after N samples are durable, print "PAUSED" and stop
// working while the process stays alive (tests then SIGKILL it mid-shard).
// Every RPC retries while the coordinator is unavailable (restart tests).
#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/rpc/channel_builder.h"
#include "common/rpc/security.h"
#include "common/rpc/worker_credentials.h"
#include "common/util/file_util.h"
#include "common/util/hash.h"
#include "ssd/v1/replay_store.grpc.pb.h"
#include "ssd/v1/worker_service.grpc.pb.h"
#include "tests/cluster/fake_model.h"

namespace ssd {
namespace {

struct Args {
  std::string coordinator;
  std::string certs;
  std::string role = "sampler";
  std::string name;
  int sample_ms = 5;
  int per_message = 4;
  int text_bytes = 0;
  int64_t pause_after = -1;
  int train_steps = 5;
  int step_ms = 20;
};

class SimWorker {
 public:
  explicit SimWorker(const Args& a) : args_(a) {}

  int Run() {
    ChannelOptions c;
    c.target = args_.coordinator;
    c.security.ca_file = JoinPath(args_.certs, "ca.pem");
    auto token = ReadTokenFile(JoinPath(args_.certs, "token"));
    if (!token.ok()) {
      std::cerr << token.status() << "\n";
      return 2;
    }
    c.security.token = *token;
    auto ch = MakeChannel(c);
    if (!ch.ok()) {
      std::cerr << ch.status() << "\n";
      return 2;
    }
    coord_ = v1::WorkerService::NewStub(*ch);
    store_ = v1::ReplayStore::NewStub(*ch);
    Register();
    std::thread hb([this] { HeartbeatLoop(); });
    hb.detach();
    for (;;) {
      if (paused_.load()) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      v1::AcquireWorkRequest req;
      AddHeld(req.mutable_weights_held());
      v1::AcquireWorkResponse resp;
      grpc::Status s = Retry([&](grpc::ClientContext* ctx) { return coord_->AcquireWork(ctx, req, &resp); });
      if (!s.ok()) {
        if (s.error_code() == grpc::StatusCode::NOT_FOUND) Register();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      if (resp.has_shard()) {
        DoShard(resp.shard());
      } else if (resp.has_training()) {
        DoTraining(resp.training());
      } else if (resp.has_push()) {
        DoPush(resp.push());
      } else {
        const v1::Idle& idle = resp.idle();
        if (idle.has_wanted()) {
          // A real sampler fetches the weights from a holder; pretend.
          std::lock_guard<std::mutex> l(mu_);
          held_.insert({idle.wanted().job_id(), idle.wanted().version()});
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(idle.retry_after_ms(), 300)));
      }
    }
  }

 private:
  v1::WorkerCredentials Identity() {
    std::lock_guard<std::mutex> l(mu_);
    return identity_;
  }
  void AddHeld(google::protobuf::RepeatedPtrField<v1::WeightsRef>* out) {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [job, v] : held_) {
      v1::WeightsRef* r = out->Add();
      r->set_job_id(job);
      r->set_version(v);
    }
  }

  // Retries while the coordinator is unreachable (it may be restarting).
  template <typename F>
  grpc::Status Retry(F call) {
    for (int i = 0;; ++i) {
      auto ctx = CallContext(5000, /*wait_for_ready=*/true);
      // Registered before: every call (a re-registration too) carries the
      // credentials.
      const v1::WorkerCredentials who = Identity();
      if (!who.worker_id().empty()) AttachWorkerCredentials(who, ctx.get());
      grpc::Status s = call(ctx.get());
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        return s;
      }
      if (i == 0) std::cout << "coordinator unavailable, retrying: " << s.error_message() << std::endl;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  void Register() {
    v1::RegisterWorkerRequest req;
    req.set_role(args_.role == "trainer" ? v1::WORKER_ROLE_TRAINER : v1::WORKER_ROLE_SAMPLER);
    req.set_hostname(args_.name.empty() ? "sim" : args_.name);
    if (args_.role == "sampler") req.set_address(absl::StrCat("127.0.0.1:", 40000 + (getpid() % 20000)));
    req.mutable_capabilities()->set_device("sim");
    req.mutable_capabilities()->set_rendezvous_port(29500);
    v1::RegisterWorkerResponse resp;
    grpc::Status s = Retry([&](grpc::ClientContext* ctx) { return coord_->RegisterWorker(ctx, req, &resp); });
    if (!s.ok()) {
      std::cerr << "register failed: " << s.error_message() << std::endl;
      std::exit(1);
    }
    std::lock_guard<std::mutex> l(mu_);
    identity_ = resp.credentials();
    interval_ms_ = resp.heartbeat_interval_ms();
    std::cout << "registered as " << identity_.worker_id() << std::endl;
  }

  void HeartbeatLoop() {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms_.load()));
      v1::HeartbeatRequest req;
      AddHeld(req.mutable_weights_held());
      {
        std::lock_guard<std::mutex> l(mu_);
        if (working_) *req.add_leases() = current_;
      }
      v1::HeartbeatResponse resp;
      grpc::Status s = Retry([&](grpc::ClientContext* ctx) { return coord_->Heartbeat(ctx, req, &resp); });
      if (!s.ok()) continue;
      for (const v1::LeaseRef& r : resp.revoked()) {
        std::lock_guard<std::mutex> l(mu_);
        if (working_ && r.SerializeAsString() == current_.SerializeAsString()) revoked_ = true;
      }
    }
  }

  void SetCurrent(const v1::LeaseRef& lease) {
    std::lock_guard<std::mutex> l(mu_);
    current_ = lease;
    working_ = true;
    revoked_ = false;
  }
  void ClearCurrent() {
    std::lock_guard<std::mutex> l(mu_);
    working_ = false;
  }
  bool Revoked() {
    std::lock_guard<std::mutex> l(mu_);
    return revoked_;
  }

  grpc::Status Report(v1::ReportWorkRequest& req) {
    v1::ReportWorkResponse resp;
    return Retry([&](grpc::ClientContext* ctx) { return coord_->ReportWork(ctx, req, &resp); });
  }

  void DoShard(const v1::ShardLease& lease) {
    SetCurrent(lease.lease());
    v1::ReportWorkRequest report;
    *report.mutable_lease() = lease.lease();
    if (lease.lease().kind() == v1::LEASE_KIND_EVAL) {
      for (const v1::ProblemTask& t : lease.tasks()) {
        for (size_t ti = 0; ti < static_cast<size_t>(lease.eval().temperatures_size()); ++ti) {
          const double temp = lease.eval().temperatures(static_cast<int>(ti));
          const uint64_t h = Fnv1a64(absl::StrCat(t.problem().id(), "/", ti), 1469598103934665603ull);
          const int n = static_cast<int>(lease.eval().n());
          // Later rounds solve a little more, as SSD should.
          const int c = std::min<int>(n, static_cast<int>(h % (n + 1)) + lease.lease().round());
          v1::EvalOutcome* o = report.mutable_shard_done()->add_eval_outcomes();
          o->set_problem_id(t.problem().id());
          o->set_temperature(temp);
          o->set_n(n);
          o->set_c(c);
          std::this_thread::sleep_for(std::chrono::milliseconds(args_.sample_ms));
        }
      }
      grpc::Status s = Report(report);
      std::cout << "eval shard " << lease.lease().shard() << " reported: " << (s.ok() ? "ok" : s.error_message())
                << std::endl;
      ClearCurrent();
      return;
    }
    // A stream broken by a coordinator restart is sent again under the same
    // lease (already stored samples are acknowledged as duplicates).
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (AppendShard(lease, report)) break;
    }
    ClearCurrent();
  }

  // Returns false when the stream should be retried.
  bool AppendShard(const v1::ShardLease& lease, v1::ReportWorkRequest& report) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
    v1::AppendResponse ack;
    AttachWorkerCredentials(Identity(), &ctx);
    auto writer = store_->Append(&ctx, &ack);
    v1::AppendRequest msg;
    *msg.mutable_lease() = lease.lease();
    int64_t in_message = 0;
    bool ok = true;
    auto flush = [&]() {
      if (msg.samples_size() == 0 && msg.has_lease() == false) return;
      ok = ok && writer->Write(msg);
      msg.Clear();
      in_message = 0;
    };
    for (const v1::ProblemTask& t : lease.tasks()) {
      for (int64_t index : t.sample_indices()) {
        if (Revoked() || !ok) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(args_.sample_ms));
        const std::string text =
            FakeText(lease.lease().job_id(), lease.lease().round(), t.problem().id(), index, args_.text_bytes);
        v1::Sample* x = msg.add_samples();
        x->set_problem_id(t.problem().id());
        x->set_sample_index(index);
        x->set_text(text);
        x->set_num_tokens(static_cast<int32_t>(std::min<int64_t>(text.size() / 3, lease.sampling().max_tokens())));
        x->set_finish_reason(v1::FINISH_REASON_STOP);
        x->set_weights_version(lease.weights().version());
        if (++in_message >= args_.per_message) flush();
        ++sent_;
        if (args_.pause_after >= 0 && sent_ >= args_.pause_after) {
          flush();
          // Make sure what was written is durable before saying so: a
          // barrier write of nothing would not tell; wait a little instead.
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          std::cout << "PAUSED after " << sent_ << " samples in shard " << lease.lease().shard() << std::endl;
          paused_.store(true);
          for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
        }
      }
    }
    flush();
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    if (!s.ok()) {
      std::cout << "append of shard " << lease.lease().shard() << " ended: " << s.error_message() << std::endl;
      if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        return false;
      }
      return true;
    }
    report.mutable_shard_done();
    s = Report(report);
    std::cout << "shard " << lease.lease().shard() << " done: " << ack.accepted() << " new, " << ack.duplicates()
              << " duplicates; report " << (s.ok() ? "ok" : s.error_message()) << std::endl;
    return true;
  }

  void DoTraining(const v1::TrainingAssignment& a) {
    SetCurrent(a.lease());
    for (int step = 1; step <= args_.train_steps; ++step) {
      if (Revoked()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(args_.step_ms));
      v1::ReportWorkRequest r;
      *r.mutable_lease() = a.lease();
      r.mutable_training_progress()->set_step(step);
      r.mutable_training_progress()->set_total_steps(args_.train_steps);
      r.mutable_training_progress()->set_loss(2.0 / step);
      r.mutable_training_progress()->set_tokens_per_s(1000);
      Report(r);
    }
    v1::ReportWorkRequest r;
    *r.mutable_lease() = a.lease();
    r.mutable_training_done()->set_steps(args_.train_steps);
    r.mutable_training_done()->set_final_loss(2.0 / args_.train_steps);
    r.mutable_training_done()->set_model_path(
        absl::StrCat("/tmp/sim-", a.lease().job_id(), "-round-", a.lease().round()));
    grpc::Status s = Report(r);
    std::cout << "training rank " << a.rank() << "/" << a.world_size() << " of " << a.lease().job_id() << " round "
              << a.lease().round() << ": " << (s.ok() ? "done" : s.error_message()) << std::endl;
    ClearCurrent();
  }

  void DoPush(const v1::PushAssignment& p) {
    SetCurrent(p.lease());
    v1::ReportWorkRequest r;
    *r.mutable_lease() = p.lease();
    r.mutable_push_progress()->set_bytes_total(1000);
    r.mutable_push_progress()->set_bytes_done(1000);
    r.mutable_push_progress()->set_samplers_total(p.chain_size());
    r.mutable_push_progress()->set_samplers_done(p.chain_size());
    Report(r);
    v1::ReportWorkRequest d;
    *d.mutable_lease() = p.lease();
    for (const v1::PushTarget& t : p.chain()) d.mutable_push_done()->add_reached(t.worker_id());
    grpc::Status s = Report(d);
    std::cout << "push of " << p.lease().job_id() << " round " << p.lease().round() << " to " << p.chain_size()
              << " samplers: " << (s.ok() ? "done" : s.error_message()) << std::endl;
    ClearCurrent();
  }

  const Args args_;
  std::unique_ptr<v1::WorkerService::Stub> coord_;
  std::unique_ptr<v1::ReplayStore::Stub> store_;
  std::mutex mu_;
  v1::WorkerCredentials identity_;
  std::set<std::pair<std::string, int32_t>> held_;
  v1::LeaseRef current_;
  bool working_ = false;
  bool revoked_ = false;
  std::atomic<int64_t> interval_ms_{300};
  std::atomic<bool> paused_{false};
  int64_t sent_ = 0;
};

}  // namespace
}  // namespace ssd

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  ssd::Args a;
  CLI::App app{"simulated ssd worker"};
  app.add_option("--coordinator", a.coordinator)->required();
  app.add_option("--certs", a.certs)->required();
  app.add_option("--role", a.role);
  app.add_option("--name", a.name);
  app.add_option("--sample-ms", a.sample_ms);
  app.add_option("--per-message", a.per_message);
  app.add_option("--text-bytes", a.text_bytes);
  app.add_option("--pause-after", a.pause_after);
  app.add_option("--train-steps", a.train_steps);
  app.add_option("--step-ms", a.step_ms);
  CLI11_PARSE(app, argc, argv);
  ssd::SimWorker w(a);
  return w.Run();
}
