#include "sampler_worker/sampler_daemon.h"

#include <glog/logging.h>
#include <unistd.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/eval/sandbox.h"
#include "common/metrics/http_endpoint.h"
#include "common/metrics/metrics_registry.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "sampler_worker/sampler_service.h"
#include "sampler_worker/weights_store.h"

namespace ssd {

struct SamplerDaemon::Impl {
  SamplerDaemonOptions options;
  MetricsRegistry metrics;
  std::unique_ptr<GenerationBackend> backend;
  std::unique_ptr<WeightsStore> store;
  std::unique_ptr<Sandbox> sandbox;
  std::unique_ptr<SamplerWorker> worker;
  std::unique_ptr<SamplerService> service;
  BuiltServer server;
  std::unique_ptr<HttpEndpoint> http;
  bool shut_down = false;
};

absl::Status SamplerDaemonOptions::Validate() const {
  if (coordinator.empty()) return absl::InvalidArgumentError("--coordinator: required (host:port)");
  if (work_dir.empty()) return absl::InvalidArgumentError("--work-dir: required (weights versions are kept there)");
  if (grade_parallel < 1) return absl::InvalidArgumentError("--grade-parallel: must be >= 1");
  RETURN_IF_ERROR(client.Validate(/*server=*/false));
  return server.Validate();
}

SamplerDaemon::SamplerDaemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SamplerDaemon::~SamplerDaemon() { Shutdown(); }

absl::StatusOr<std::unique_ptr<SamplerDaemon>> SamplerDaemon::Start(const SamplerDaemonOptions& options,
                                                                    std::unique_ptr<GenerationBackend> backend) {
  RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->options.work_dir = AbsolutePath(options.work_dir);
  impl->backend = std::move(backend);
  ASSIGN_OR_RETURN(impl->store, WeightsStore::Open(JoinPath(impl->options.work_dir, "weights")));
  if (options.unsafe_sandbox) {
    impl->sandbox = std::make_unique<UnsafeSandbox>(options.grade_parallel);
  } else {
    BwrapSandboxOptions b;
    b.max_parallel = options.grade_parallel;
    ASSIGN_OR_RETURN(std::unique_ptr<BwrapSandbox> bw, BwrapSandbox::Create(b));
    impl->sandbox = std::move(bw);
  }
  const SecurityOptions client = options.client;
  ChannelFactory peers = [client](const std::string& address) -> absl::StatusOr<std::shared_ptr<grpc::Channel>> {
    ChannelOptions c;
    c.target = address;
    c.security = client;
    return MakeChannel(c);
  };
  // The worker needs the advertised address, which needs the bound port,
  // which needs the service: the hooks reach the worker through `p`.
  Impl* p = impl.get();
  SamplerServiceHooks hooks;
  hooks.worker_id = [p] { return p->worker ? p->worker->worker_id() : std::string("a starting sampler"); };
  hooks.accept = [p](const v1::WeightsManifest& m) {
    return p->worker ? p->worker->AcceptWeights(m) : absl::UnavailableError("the sampler is starting");
  };
  hooks.check_file = [p](const v1::WeightsManifest& m, const std::string& n, const std::string& f) {
    return p->worker ? p->worker->CheckWeightsFile(m, n, f) : absl::UnavailableError("the sampler is starting");
  };
  hooks.installed = [p](const v1::WeightsRef& r) {
    if (p->worker) p->worker->OnInstalled(r);
  };
  impl->service = std::make_unique<SamplerService>(impl->store.get(), peers, hooks, SamplerServiceOptions());
  ServerOptions so = options.server;
  so.metrics = &impl->metrics;
  ASSIGN_OR_RETURN(impl->server, BuildServer(so, {impl->service.get()}));
  std::string advertise = options.advertise;
  char hostname[256] = {0};
  gethostname(hostname, sizeof(hostname) - 1);
  if (advertise.empty()) {
    std::string host = so.listen_address.substr(0, so.listen_address.rfind(':'));
    if (host == "0.0.0.0" || host == "[::]" || host.empty()) host = hostname;
    advertise = absl::StrCat(host, ":", impl->server.port);
  }
  impl->options.advertise = advertise;
  SamplerWorkerOptions wo;
  wo.session.channel.target = options.coordinator;
  wo.session.channel.security = options.client;
  wo.session.registration.set_address(advertise);
  wo.session.registration.set_hostname(hostname);
  *wo.session.registration.mutable_capabilities() = options.capabilities;
  wo.peers = peers;
  wo.grade = options.grade;
  wo.drain_timeout_ms = options.drain_timeout_ms;
  impl->worker = std::make_unique<SamplerWorker>(wo, impl->backend.get(), impl->store.get(), impl->sandbox.get());
  // Metrics: what the backend, the worker and the weights service count.
  {
    MetricsRegistry& m = impl->metrics;
    Counter* tokens = &m.AddCounter("ssd_sampler_generated_tokens_total", "Tokens generated.").WithLabels({});
    Counter* appended =
        &m.AddCounter("ssd_sampler_samples_appended_total", "Samples stored in the replay store.").WithLabels({});
    Counter* shards = &m.AddCounter("ssd_sampler_shards_done_total", "Shards reported done.").WithLabels({});
    Counter* failed = &m.AddCounter("ssd_sampler_shards_failed_total", "Shards that failed here.").WithLabels({});
    Counter* graded = &m.AddCounter("ssd_sampler_eval_answers_graded_total", "Eval answers graded.").WithLabels({});
    Counter* reused =
        &m.AddCounter("ssd_sampler_eval_answers_reused_total",
                      "Eval answers whose program was already graded on the same problem (not run again).")
             .WithLabels({});
    Counter* push_bytes =
        &m.AddCounter("ssd_sampler_push_received_bytes_total", "Weight bytes received by pushes.").WithLabels({});
    Counter* installs =
        &m.AddCounter("ssd_sampler_weights_installed_total", "Weight versions installed.").WithLabels({});
    Gauge* gbps =
        &m.AddGauge("ssd_sampler_push_gigabytes_per_second", "Rate of the last push received.").WithLabels({});
    Gauge* running = &m.AddGauge("ssd_sampler_running_sequences", "Sequences decoding now.").WithLabels({});
    Gauge* waiting = &m.AddGauge("ssd_sampler_waiting_samples", "Samples waiting for a slot.").WithLabels({});
    Gauge* kv = &m.AddGauge("ssd_sampler_kv_blocks_used", "Peak KV-cache blocks in use.").WithLabels({});
    Gauge* kv_total = &m.AddGauge("ssd_sampler_kv_blocks", "KV-cache blocks in the pool.").WithLabels({});
    Gauge* version = &m.AddGauge("ssd_sampler_weights_version", "Version of the weights being served.").WithLabels({});
    Gauge* tps = &m.AddGauge("ssd_sampler_tokens_per_second", "Generated tokens per second since the last scrape.")
                      .WithLabels({});
    Counter* requests = &m.AddCounter("ssd_sampler_backend_requests_total",
                                      "Requests an external server (--backend openai) answered.")
                             .WithLabels({});
    Counter* errors = &m.AddCounter("ssd_sampler_backend_errors_total",
                                    "Requests to an external server that failed (each retry counts).")
                           .WithLabels({});
    Gauge* latency = &m.AddGauge("ssd_sampler_backend_request_seconds_total",
                                 "Seconds the answered external requests took, summed (divide by requests).")
                          .WithLabels({});
    Gauge* healthy = &m.AddGauge("ssd_sampler_healthy", "1 while the sampler takes work, 0 while its backend is down.")
                          .WithLabels({});
    auto last = std::make_shared<std::pair<double, int64_t>>(0.0, 0);
    m.AddCollector([=] {
      const BackendStats b = p->backend->stats();
      const SamplerWorkerStats w = p->worker->stats();
      tokens->AdvanceTo(static_cast<uint64_t>(b.generated_tokens));
      appended->AdvanceTo(static_cast<uint64_t>(w.samples_appended));
      shards->AdvanceTo(static_cast<uint64_t>(w.shards_done));
      failed->AdvanceTo(static_cast<uint64_t>(w.shards_failed));
      graded->AdvanceTo(static_cast<uint64_t>(w.eval_answers_graded));
      reused->AdvanceTo(static_cast<uint64_t>(w.eval_answers_reused));
      push_bytes->AdvanceTo(static_cast<uint64_t>(p->service->bytes_received()));
      installs->AdvanceTo(static_cast<uint64_t>(p->service->pushes_installed() + w.fetches));
      gbps->Set(p->service->last_push_gb_per_s());
      running->Set(static_cast<double>(b.running));
      waiting->Set(static_cast<double>(b.waiting));
      kv->Set(static_cast<double>(b.kv_blocks_used));
      kv_total->Set(static_cast<double>(b.kv_blocks_total));
      version->Set(static_cast<double>(b.weights_version));
      requests->AdvanceTo(static_cast<uint64_t>(b.backend_requests));
      errors->AdvanceTo(static_cast<uint64_t>(b.backend_errors));
      latency->Set(b.backend_request_seconds);
      healthy->Set(w.unhealthy.empty() ? 1 : 0);
      const double now = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
      if (last->first > 0 && now > last->first) tps->Set((b.generated_tokens - last->second) / (now - last->first));
      *last = {now, b.generated_tokens};
    });
  }
  if (options.metrics_port >= 0) {
    HttpEndpointOptions h;
    h.host = options.metrics_host;
    h.port = options.metrics_port;
    SamplerWorker* worker = impl->worker.get();
    ASSIGN_OR_RETURN(impl->http, HttpEndpoint::Start(h, &impl->metrics, [worker] {
                       const std::string why = worker->stats().unhealthy;
                       return why.empty() ? absl::OkStatus() : absl::UnavailableError(why);
                     }));
  }
  LOG(INFO) << "sampler serving weights on port " << impl->server.port << " (advertised as " << advertise << ")";
  return std::unique_ptr<SamplerDaemon>(new SamplerDaemon(std::move(impl)));
}

absl::Status SamplerDaemon::Run() { return impl_->worker->Run(); }
void SamplerDaemon::Drain() { impl_->worker->Drain(); }

void SamplerDaemon::Shutdown() {
  if (impl_ == nullptr || impl_->shut_down) return;
  impl_->shut_down = true;
  impl_->worker->Stop();
  if (impl_->http) impl_->http->Shutdown();
  impl_->server.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  impl_->server.server->Wait();
}

int SamplerDaemon::port() const { return impl_->server.port; }
int SamplerDaemon::metrics_port() const { return impl_->http ? impl_->http->port() : -1; }

}  // namespace ssd
