#include "trainer_worker/trainer_daemon.h"

#include "common/metrics/http_endpoint.h"
#include "common/metrics/metrics_registry.h"
#include "common/util/status_macros.h"

namespace ssd {

struct TrainerDaemon::Impl {
  MetricsRegistry metrics;
  std::unique_ptr<TrainerAgent> agent;
  std::unique_ptr<HttpEndpoint> http;
};

TrainerDaemon::TrainerDaemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TrainerDaemon::~TrainerDaemon() {
  if (impl_->http) impl_->http->Shutdown();
}

absl::StatusOr<std::unique_ptr<TrainerDaemon>> TrainerDaemon::Start(const TrainerDaemonOptions& options) {
  if (options.agent.work_dir.empty()) return absl::InvalidArgumentError("--work-dir: required");
  auto impl = std::make_unique<Impl>();
  impl->agent = std::make_unique<TrainerAgent>(options.agent);
  MetricsRegistry& m = impl->metrics;
  Gauge* step = &m.AddGauge("ssd_trainer_step", "Optimizer step of the training in progress.").WithLabels({});
  Gauge* loss = &m.AddGauge("ssd_trainer_loss", "Loss of the last step.").WithLabels({});
  Gauge* step_s = &m.AddGauge("ssd_trainer_step_seconds", "Time of the last step.").WithLabels({});
  Gauge* tps = &m.AddGauge("ssd_trainer_tokens_per_second", "Training tokens per second.").WithLabels({});
  Gauge* peak = &m.AddGauge("ssd_trainer_train_peak_rss_bytes",
                            "Peak resident memory of this worker's `ssd train` process (its rank), the largest so far.")
                     .WithLabels({});
  GaugeFamily* sharding =
      &m.AddGauge("ssd_trainer_sharding", "1 for the train.sharding of the last assignment, by mode.", {"mode"});
  Gauge* aux = &m.AddGauge("ssd_trainer_router_aux_loss",
                           "Mixture of experts: the router's load-balancing loss of the last step (0: off).")
                    .WithLabels({});
  GaugeFamily* imbalance = &m.AddGauge(
      "ssd_trainer_expert_max_over_mean",
      "Mixture of experts: the busiest expert's load over the mean in the last step (1: balanced), by layer.",
      {"layer"});
  GaugeFamily* dead = &m.AddGauge("ssd_trainer_experts_idle",
                                  "Mixture of experts: experts no token chose in the last step, by layer.", {"layer"});
  GaugeFamily* share =
      &m.AddGauge("ssd_trainer_expert_load_fraction",
                  "Mixture of experts: each expert's share of the last step's token choices (1/E balanced).",
                  {"layer", "expert"});
  Counter* done = &m.AddCounter("ssd_trainer_trainings_done_total", "Training assignments finished.").WithLabels({});
  Counter* failed =
      &m.AddCounter("ssd_trainer_trainings_failed_total", "Training assignments that failed.").WithLabels({});
  Counter* pushes = &m.AddCounter("ssd_trainer_pushes_total", "Weight pushes finished.").WithLabels({});
  Counter* push_bytes = &m.AddCounter("ssd_trainer_push_bytes_total", "Weight bytes pushed.").WithLabels({});
  Gauge* gbps = &m.AddGauge("ssd_trainer_push_gigabytes_per_second", "Rate of the last push.").WithLabels({});
  TrainerAgent* agent = impl->agent.get();
  m.AddCollector([=] {
    const TrainerAgentStats s = agent->stats();
    step->Set(static_cast<double>(s.last_step));
    loss->Set(s.last_loss);
    step_s->Set(s.last_step_s);
    tps->Set(s.tokens_per_s);
    peak->Set(static_cast<double>(s.peak_rss_bytes));
    for (const char* mode : {"none", "optimizer", "gradients", "full"}) {
      sharding->WithLabels({mode}).Set(s.sharding == mode ? 1 : 0);
    }
    aux->Set(s.aux_loss);
    for (const TrainerAgentStats::LayerLoad& l : s.expert_load) {
      const std::string layer = std::to_string(l.layer);
      imbalance->WithLabels({layer}).Set(l.max_over_mean);
      dead->WithLabels({layer}).Set(static_cast<double>(l.dead_experts));
      for (size_t e = 0; e < l.fractions.size(); ++e) share->WithLabels({layer, std::to_string(e)}).Set(l.fractions[e]);
    }
    done->AdvanceTo(static_cast<uint64_t>(s.trainings_done));
    failed->AdvanceTo(static_cast<uint64_t>(s.trainings_failed));
    pushes->AdvanceTo(static_cast<uint64_t>(s.pushes_done));
    push_bytes->AdvanceTo(static_cast<uint64_t>(s.push_bytes));
    gbps->Set(s.last_push_gb_per_s);
  });
  if (options.metrics_port >= 0) {
    HttpEndpointOptions h;
    h.host = options.metrics_host;
    h.port = options.metrics_port;
    ASSIGN_OR_RETURN(impl->http, HttpEndpoint::Start(h, &impl->metrics, nullptr));
  }
  return std::unique_ptr<TrainerDaemon>(new TrainerDaemon(std::move(impl)));
}

absl::Status TrainerDaemon::Run() { return impl_->agent->Run(); }
void TrainerDaemon::Drain() { impl_->agent->Drain(); }
int TrainerDaemon::metrics_port() const { return impl_->http ? impl_->http->port() : -1; }

}  // namespace ssd
