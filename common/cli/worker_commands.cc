#include "common/cli/worker_commands.h"

#include <ATen/Parallel.h>
#include <glog/logging.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_cat.h"
#include "common/cli/cli_util.h"
#include "common/cli/cluster_flags.h"
#include "common/cli/omp_wait_policy.h"
#include "common/rpc/channel_builder.h"
#include "common/util/file_util.h"
#include "common/model/device.h"
#include "common/util/status_macros.h"
#include "sampler_worker/engine_backend.h"
#include "sampler_worker/sampler_daemon.h"
#include "trainer_worker/trainer_daemon.h"

namespace ssd {
namespace {

// Blocks SIGINT/SIGTERM for every thread, then drains `daemon` on the first.
template <typename D>
absl::Status RunUntilSignal(D* daemon) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  std::thread waiter([&set, daemon] {
    int sig = 0;
    sigwait(&set, &sig);
    LOG(INFO) << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ": draining";
    daemon->Drain();
  });
  waiter.detach();
  return daemon->Run();
}

void BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

struct SamplerFlags {
  SamplerDaemonOptions daemon;
  WorkerSecurityFlags security;
  EngineBackendOptions engine;
  int threads = 0;
  double drain_timeout_s = 60;
};

absl::Status RunSampler(SamplerFlags f) {
  BlockSignals();
  f.threads = CpuThreads(f.threads);
  at::set_num_threads(f.threads);
  // A bad --device or --dtype fails here, not at the first job's model load.
  RETURN_IF_ERROR(ResolveDevice(f.engine.device, f.engine.dtype).status());
  ASSIGN_OR_RETURN(f.daemon.client, f.security.Client());
  ASSIGN_OR_RETURN(f.daemon.server.security, f.security.Server());
  f.daemon.drain_timeout_ms = static_cast<int64_t>(f.drain_timeout_s * 1000);
  f.daemon.capabilities.set_device(f.engine.device);
  f.daemon.capabilities.set_threads(f.threads);
  f.daemon.capabilities.set_kv_cache_bytes(f.engine.kv_cache_mb << 20);
  ASSIGN_OR_RETURN(std::unique_ptr<SamplerDaemon> d, SamplerDaemon::Start(f.daemon, MakeEngineBackend(f.engine)));
  std::cerr << "ssd sampler: serving weights on port " << d->port()
            << (d->metrics_port() >= 0 ? absl::StrCat(", /metrics on port ", d->metrics_port()) : "") << std::endl;
  const absl::Status s = RunUntilSignal(d.get());
  d->Shutdown();
  return s;
}

struct TrainerFlags {
  TrainerDaemonOptions daemon;
  WorkerSecurityFlags security;
  std::string coordinator = Env("SSD_COORDINATOR", "127.0.0.1:7070");
  int nproc = 1;
  int rendezvous_port = 0;
  int rank_hint = -1;
};

// `--nproc N`: N trainer processes, each a worker of its own.
absl::Status LaunchTrainers(int n) {
  std::string cmdline;
  {
    auto text = ReadFileToString("/proc/self/cmdline", 1 << 20);
    if (!text.ok()) return text.status();
    cmdline = *text;
  }
  std::vector<std::string> args;
  for (absl::string_view a : absl::StrSplit(cmdline, '\0', absl::SkipEmpty())) args.emplace_back(a);
  std::vector<std::string> child_args;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;
      continue;
    }
    if (absl::StartsWith(args[i], "--nproc=")) continue;
    child_args.push_back(args[i]);
  }
  char exe[4096] = {0};
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (len <= 0) return absl::InternalError("cannot find this executable");
  BlockSignals();
  ShareCoresWithChildren();  // N trainers on one machine share its cores
  std::vector<pid_t> children;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> a = child_args;
    // Each gets its own work folder and rendezvous port.
    for (size_t k = 0; k + 1 < a.size(); ++k) {
      if (a[k] == "--work-dir") a[k + 1] = JoinPath(a[k + 1], absl::StrCat("proc-", i));
    }
    const pid_t pid = fork();
    if (pid == 0) {
      sigset_t none;
      sigemptyset(&none);
      pthread_sigmask(SIG_SETMASK, &none, nullptr);
      std::vector<char*> argv;
      argv.push_back(exe);
      for (size_t k = 1; k < a.size(); ++k) argv.push_back(const_cast<char*>(a[k].c_str()));
      argv.push_back(nullptr);
      execv(exe, argv.data());
      _exit(127);
    }
    children.push_back(pid);
  }
  std::thread forward([&children] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    for (pid_t p : children) kill(p, SIGTERM);
  });
  forward.detach();
  int failures = 0;
  for (pid_t p : children) {
    int status = 0;
    waitpid(p, &status, 0);
    failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
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
  BlockSignals();
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
  const int port = f.rendezvous_port > 0 ? f.rendezvous_port : PickFreePort();
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
  return RunUntilSignal(d.get());
}

}  // namespace

void RegisterWorkerCommands(CLI::App& app, std::function<int()>* run) {
  {
    auto f = std::make_shared<SamplerFlags>();
    f->daemon.coordinator = Env("SSD_COORDINATOR", "127.0.0.1:7070");
    f->daemon.server.listen_address = "0.0.0.0:0";
    CLI::App* c = app.add_subcommand("sampler", "Run a sampler worker: lease shards, generate, stream samples, take weights");
    c->add_option("--coordinator", f->daemon.coordinator, "coordinator host:port ($SSD_COORDINATOR)")
        ->capture_default_str();
    c->add_option("--listen", f->daemon.server.listen_address, "this sampler's gRPC address (weights in and out)")
        ->capture_default_str();
    c->add_option("--advertise", f->daemon.advertise, "host:port peers reach it at (default: listen host, or hostname)");
    c->add_option("--work-dir", f->daemon.work_dir, "weights versions and scratch")->required();
    c->add_option("--metrics-port", f->daemon.metrics_port, "HTTP port for /metrics and /healthz (-1: none); $SSD_METRICS_PORT")
        ->envname("SSD_METRICS_PORT")
        ->capture_default_str();
    c->add_option("--metrics-host", f->daemon.metrics_host, "address the HTTP endpoint binds")->capture_default_str();
    c->add_option("--threads", f->threads, "intra-op threads (0: the machine's cores)")->capture_default_str();
    c->add_option("--device", f->engine.device, "cpu, cuda or cuda:N")->capture_default_str();
    c->add_option("--dtype", f->engine.dtype,
                  "weights: auto (fp32 on cpu, bf16 on cuda), fp32, or bf16 (on cpu: bf16 matrices, fp32 arithmetic)")
        ->capture_default_str();
    c->add_option("--max-seqs", f->engine.max_seqs, "sequences decoded together")->capture_default_str();
    c->add_option("--kv-cache-mb", f->engine.kv_cache_mb, "KV-cache pool")->capture_default_str();
    c->add_option("--grade-parallel", f->daemon.grade_parallel, "programs graded at once")->capture_default_str();
    c->add_flag("--unsafe-sandbox", f->daemon.unsafe_sandbox, "grade eval answers WITHOUT bubblewrap (trusted models only)");
    c->add_option("--drain-timeout-s", f->drain_timeout_s, "on SIGTERM, how long to finish the current shard")
        ->capture_default_str();
    f->security.Add(c);
    c->callback([f, run] { *run = [f] { return ReportStatus("sampler", RunSampler(*f)); }; });
  }
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
    c->add_option("--metrics-port", f->daemon.metrics_port, "HTTP port for /metrics and /healthz (-1: none); $SSD_METRICS_PORT")
        ->envname("SSD_METRICS_PORT")
        ->capture_default_str();
    c->add_option("--metrics-host", f->daemon.metrics_host, "address the HTTP endpoint binds")->capture_default_str();
    c->add_option("--push-chunk-bytes", a.push_chunk_bytes, "weight push chunk size")->capture_default_str();
    f->security.Add(c);
    c->callback([f, run] { *run = [f] { return ReportStatus("trainer", RunTrainer(*f)); }; });
  }
}

}  // namespace ssd
