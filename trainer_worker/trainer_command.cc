#include "trainer_worker/trainer_command.h"

#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/cli/cli_util.h"
#include "common/cli/security_flags.h"
#include "common/rpc/channel_builder.h"
#include "common/util/file_util.h"
#include "common/util/omp_wait_policy.h"
#include "common/util/ports.h"
#include "common/util/process_group.h"
#include "common/util/signals.h"
#include "common/util/status_macros.h"
#include "trainer_worker/trainer_daemon.h"

namespace ssd {
namespace {

struct TrainerFlags {
  TrainerDaemonOptions daemon;
  WorkerSecurityFlags security;
  std::string coordinator = Env("SSD_COORDINATOR", "127.0.0.1:7070");
  int nproc = 1;
  int rendezvous_port = 0;
  int rank_hint = -1;
};

// `--nproc N`: N trainer processes, each a worker of its own with its own
// work folder, sharing the cores. SIGINT or SIGTERM is passed on to them,
// and each drains.
absl::Status LaunchTrainers(int n) {
  ASSIGN_OR_RETURN(std::string cmdline, ReadFileToString("/proc/self/cmdline", 1 << 20));
  std::vector<std::string> args;
  for (absl::string_view a : absl::StrSplit(cmdline, '\0', absl::SkipEmpty())) args.emplace_back(a);
  std::vector<std::string> child_args = {SelfExecutable()};
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;
      continue;
    }
    if (absl::StartsWith(args[i], "--nproc=")) continue;
    child_args.push_back(args[i]);
  }
  BlockTerminationSignals();
  ShareCoresWithChildren();  // N trainers on one machine share its cores
  std::vector<std::unique_ptr<ProcessGroup>> children;
  for (int i = 0; i < n; ++i) {
    SpawnOptions o;
    o.argv = child_args;
    for (size_t k = 0; k + 1 < o.argv.size(); ++k) {
      if (o.argv[k] == "--work-dir") o.argv[k + 1] = JoinPath(o.argv[k + 1], absl::StrCat("proc-", i));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<ProcessGroup> child, ProcessGroup::Spawn(o));
    children.push_back(std::move(child));
  }
  std::vector<pid_t> pids;
  for (const auto& c : children) pids.push_back(c->pid());
  OnTerminationSignal([pids](int sig) {
    for (pid_t p : pids) kill(-p, SIGTERM);
  });
  int failures = 0;
  for (auto& c : children) {
    c->Wait(absl::InfiniteDuration());
    failures += !c->succeeded();
  }
  if (failures > 0) return absl::InternalError(absl::StrCat(failures, " of ", n, " trainer processes failed"));
  return absl::OkStatus();
}

absl::Status RunTrainer(TrainerFlags f) {
  if (f.nproc < 1) return absl::InvalidArgumentError("--nproc: must be >= 1");
  if (f.rank_hint < -1) return absl::InvalidArgumentError(absl::StrCat("--rank-hint: ", f.rank_hint, " is below -1"));
  if (f.rank_hint >= 0 && f.nproc > 1) {
    return absl::InvalidArgumentError("--rank-hint: one hint cannot name the ranks of --nproc processes");
  }
  if (f.nproc > 1) return LaunchTrainers(f.nproc);
  BlockTerminationSignals();
  TrainerAgentOptions& a = f.daemon.agent;
  a.session.channel.target = f.coordinator;
  ASSIGN_OR_RETURN(a.session.channel.security, f.security.Client());
  const SecurityOptions client = a.session.channel.security;
  a.samplers = [client](const std::string& address) -> absl::StatusOr<std::shared_ptr<grpc::Channel>> {
    ChannelOptions c;
    c.target = address;
    c.security = client;
    return MakeChannel(c);
  };
  int port = f.rendezvous_port;
  if (port <= 0) {
    ASSIGN_OR_RETURN(port, PickFreePort());
  }
  a.session.registration.mutable_capabilities()->set_rendezvous_port(port);
  if (f.rank_hint >= 0) a.session.registration.mutable_capabilities()->set_rank_hint(f.rank_hint);
  a.session.registration.mutable_capabilities()->set_device(a.device);
  a.session.registration.mutable_capabilities()->set_threads(a.threads);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  a.session.registration.set_hostname(host);
  ASSIGN_OR_RETURN(std::unique_ptr<TrainerDaemon> d, TrainerDaemon::Start(f.daemon));
  std::cerr << "ssd trainer: rendezvous port " << port
            << (d->metrics_port() >= 0 ? absl::StrCat(", /metrics on port ", d->metrics_port()) : "") << std::endl;
  TrainerDaemon* daemon = d.get();
  OnTerminationSignal([daemon](int sig) {
    LOG(INFO) << SignalName(sig) << ": draining";
    daemon->Drain();
  });
  return d->Run();
}

}  // namespace

void RegisterTrainerCommand(CLI::App& app, std::function<int()>* run) {
  {
    auto f = std::make_shared<TrainerFlags>();
    TrainerAgentOptions& a = f->daemon.agent;
    CLI::App* c = app.add_subcommand("trainer", "Run a trainer worker: join training groups, train, push weights");
    c->add_option("--coordinator", f->coordinator, "coordinator host:port ($SSD_COORDINATOR)")->capture_default_str();
    c->add_option("--work-dir", a.work_dir, "training data and outputs (when the job names no output_dir)")->required();
    c->add_option("--nproc", f->nproc, "run this many trainer processes (each one rank)")->capture_default_str();
    c->add_option("--threads", a.threads, "intra-op threads of each training process (0: its default)")
        ->capture_default_str();
    c->add_option("--device", a.device, "cpu, cuda or cuda:N")->capture_default_str();
    c->add_option("--rendezvous-port", f->rendezvous_port, "port rank 0 hosts the TCPStore on (0: a free one)");
    c->add_option("--rank-hint", f->rank_hint,
                  "rank asked for in training groups (e.g. a Kubernetes Indexed Job's completion index); "
                  "groups are ordered by it, so hint 0 hosts the rendezvous (-1: none)")
        ->capture_default_str();
    c->add_option("--metrics-port", f->daemon.metrics_port,
                  "HTTP port for /metrics and /healthz (-1: none); $SSD_METRICS_PORT")
        ->envname("SSD_METRICS_PORT")
        ->capture_default_str();
    c->add_option("--metrics-host", f->daemon.metrics_host, "address the HTTP endpoint binds")->capture_default_str();
    c->add_option("--push-chunk-bytes", a.push_chunk_bytes, "weight push chunk size")->capture_default_str();
    f->security.Add(c);
    c->callback([f, run] { *run = [f] { return ReportStatus("trainer", RunTrainer(*f)); }; });
  }
}

}  // namespace ssd
