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
#include "sampler_worker/openai_backend.h"
#include "common/rpc/security.h"
#include "common/util/file_util.h"
#include "sampler_worker/sampler_daemon.h"

namespace ssd {
namespace {

struct SamplerFlags {
  SamplerDaemonOptions daemon;
  WorkerSecurityFlags security;
  EngineBackendOptions engine;
  std::string backend = "engine";
  OpenAiBackendOptions openai;
  std::string backend_token_file;
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
  std::unique_ptr<GenerationBackend> backend;
  if (f.backend == "engine") {
    backend = MakeEngineBackend(f.engine);
  } else if (f.backend == "openai") {
    if (!f.backend_token_file.empty()) {
      ASSIGN_OR_RETURN(f.openai.token, ReadTokenFile(f.backend_token_file));
    }
    if (f.openai.log_path.empty()) f.openai.log_path = JoinPath(f.daemon.work_dir, "backend-server.log");
    RETURN_IF_ERROR(f.openai.Validate());
    backend = MakeOpenAiBackend(f.openai);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--backend: \"", f.backend, "\" is not engine or openai"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SamplerDaemon> d, SamplerDaemon::Start(f.daemon, std::move(backend)));
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
    c->add_option("--backend", f->backend,
                  "engine (the native engine in this process) or openai (an OpenAI-compatible server: ssd serve, "
                  "vLLM, SGLang)")
        ->capture_default_str();
    c->add_option("--backend-url", f->openai.url,
                  "openai: the server's base URL, http[s]://host:port/v1 (with --backend-command it may hold {port}; "
                  "default http://127.0.0.1:{port}/v1)");
    c->add_option("--backend-model", f->openai.model, "openai: the model name to request (default: the served one)");
    c->add_option("--backend-token-file", f->backend_token_file, "openai: the server's bearer token");
    c->add_option("--backend-tls-ca", f->openai.ca_file, "openai: the CA that signed an https server");
    c->add_option("--backend-max-concurrency", f->openai.max_concurrency, "openai: requests in flight")
        ->capture_default_str();
    c->add_option("--backend-retry-window-s", f->openai.retry_window_s,
                  "openai: how long a server may fail before its shard fails")
        ->capture_default_str();
    c->add_option("--backend-command", f->openai.command,
                  "openai, managed: the server's command line with {model} and {port}; the sampler runs it and "
                  "restarts it on each weights version");
    c->add_option("--backend-port", f->openai.port, "openai, managed: {port} (0: a free one)")->capture_default_str();
    c->add_option("--backend-start-timeout-s", f->openai.start_timeout_s,
                  "openai, managed: how long the server may take to come up")
        ->capture_default_str();
    c->add_option("--backend-reload-url", f->openai.reload_url,
                  "openai: POST {\"model_path\": DIR} here for each weights version (SGLang's "
                  "/update_weights_from_disk)");
    f->security.Add(c);
    c->callback([f, run] { *run = [f] { return ReportStatus("sampler", RunSampler(*f)); }; });
  }
}

}  // namespace ssd
