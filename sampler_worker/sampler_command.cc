#include "sampler_worker/sampler_command.h"

#include <ATen/Parallel.h>
#include <glog/logging.h>

#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/cli/cli_util.h"
#include "common/cli/security_flags.h"
#include "common/model/device.h"
#include "common/util/signals.h"
#include "common/util/status_macros.h"
#include "sampler_worker/engine_backend.h"
#include "sampler_worker/sampler_daemon.h"

namespace ssd {
namespace {

struct SamplerFlags {
  SamplerDaemonOptions daemon;
  WorkerSecurityFlags security;
  EngineBackendOptions engine;
  int threads = 0;
  double drain_timeout_s = 60;
};

absl::Status RunSampler(SamplerFlags f) {
  BlockTerminationSignals();
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
  SamplerDaemon* daemon = d.get();
  OnTerminationSignal([daemon](int sig) {
    LOG(INFO) << SignalName(sig) << ": draining";
    daemon->Drain();
  });
  const absl::Status s = d->Run();
  d->Shutdown();
  return s;
}

}  // namespace

void RegisterSamplerCommand(CLI::App& app, std::function<int()>* run) {
  {
    auto f = std::make_shared<SamplerFlags>();
    f->daemon.coordinator = Env("SSD_COORDINATOR", "127.0.0.1:7070");
    f->daemon.server.listen_address = "0.0.0.0:0";
    CLI::App* c =
        app.add_subcommand("sampler", "Run a sampler worker: lease shards, generate, stream samples, take weights");
    c->add_option("--coordinator", f->daemon.coordinator, "coordinator host:port ($SSD_COORDINATOR)")
        ->capture_default_str();
    c->add_option("--listen", f->daemon.server.listen_address, "this sampler's gRPC address (weights in and out)")
        ->capture_default_str();
    c->add_option("--advertise", f->daemon.advertise,
                  "host:port peers reach it at (default: listen host, or hostname)");
    c->add_option("--work-dir", f->daemon.work_dir, "weights versions and scratch")->required();
    c->add_option("--metrics-port", f->daemon.metrics_port,
                  "HTTP port for /metrics and /healthz (-1: none); $SSD_METRICS_PORT")
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
    c->add_flag("--unsafe-sandbox", f->daemon.unsafe_sandbox,
                "grade eval answers WITHOUT bubblewrap (trusted models only)");
    c->add_option("--drain-timeout-s", f->drain_timeout_s, "on SIGTERM, how long to finish the current shard")
        ->capture_default_str();
    f->security.Add(c);
    c->callback([f, run] { *run = [f] { return ReportStatus("sampler", RunSampler(*f)); }; });
  }
}

}  // namespace ssd
