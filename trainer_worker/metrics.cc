#include "trainer_worker/metrics.h"

#include <cmath>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/util/file_util.h"
#include "nlohmann/json.hpp"

namespace ssd {

double TrainingFlops(const ModelConfig& c, double tokens, double attention_pairs) {
  const double H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double qkv = H * static_cast<double>(c.q_dim() + 2 * c.kv_dim());
  const double o = static_cast<double>(c.q_dim()) * H;
  const double mlp = 3.0 * H * I;
  const double layers = static_cast<double>(c.num_hidden_layers), moe_layers = static_cast<double>(c.num_moe_layers());
  const double moe = static_cast<double>(c.moe.num_experts) * H +
                     static_cast<double>(c.moe.num_experts_per_tok) * 3.0 * H * c.moe.moe_intermediate_size;
  const double matmul_params =
      layers * (qkv + o) + (layers - moe_layers) * mlp + moe_layers * moe + H * static_cast<double>(c.vocab_size);
  const double attn_per_pair = 4.0 * static_cast<double>(c.q_dim()) * layers;  // QK^T and PV
  return 3.0 * (2.0 * matmul_params * tokens + attn_per_pair * attention_pairs);
}

std::string MetricsJson(const StepMetrics& m) {
  nlohmann::ordered_json j;
  j["step"] = m.step;
  j["epoch"] = m.epoch;
  j["loss"] = m.loss;
  j["lr"] = m.lr;
  j["grad_norm"] = m.grad_norm;
  j["tokens"] = m.tokens;
  j["target_tokens"] = m.target_tokens;
  j["step_s"] = m.step_s;
  j["tokens_per_s"] = m.tokens_per_s;
  if (m.mfu >= 0) j["mfu"] = m.mfu;
  if (m.comm_wait_s >= 0) j["comm_wait_s"] = m.comm_wait_s;
  j["elapsed_s"] = m.elapsed_s;
  if (m.total_steps > 0) j["total_steps"] = m.total_steps;
  if (!m.expert_load.empty()) {
    j["ce_loss"] = m.ce_loss;
    j["aux_loss"] = m.aux_loss;
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const ExpertLoad& l : m.expert_load) {
      nlohmann::ordered_json o;
      o["layer"] = l.layer;
      o["max_over_mean"] = l.MaxOverMean();
      o["dead_experts"] = l.DeadExperts();
      std::vector<double> f = l.Fractions(m.top_k);
      for (double& x : f) x = std::round(x * 1e5) / 1e5;  // a 30B step: 48 layers x 128 shares
      o["fractions"] = f;
      layers.push_back(std::move(o));
    }
    j["expert_load"] = std::move(layers);
  }
  return j.dump();
}

const ExpertLoad* WorstExpertLoad(const StepMetrics& m) {
  const ExpertLoad* worst = nullptr;
  for (const ExpertLoad& l : m.expert_load) {
    if (worst == nullptr || l.MaxOverMean() > worst->MaxOverMean()) worst = &l;
  }
  return worst;
}

std::string ProgressLine(const StepMetrics& m, int64_t total_steps) {
  std::string s = absl::StrFormat("step %d/%d ep %d | loss %.4f | lr %.2e | gnorm %.3f | %.0f tok/s", m.step,
                                  total_steps, m.epoch, m.loss, m.lr, m.grad_norm, m.tokens_per_s);
  if (m.mfu >= 0) absl::StrAppend(&s, absl::StrFormat(" | mfu %.1f%%", 100.0 * m.mfu));
  if (const ExpertLoad* w = WorstExpertLoad(m)) {
    absl::StrAppend(&s, absl::StrFormat(" | experts max/mean %.2f (layer %d, %d idle)", w->MaxOverMean(), w->layer,
                                        w->DeadExperts()));
  }
  return s;
}

absl::StatusOr<MetricsLog> MetricsLog::Open(const std::string& path, int64_t keep_through_step) {
  std::string kept;
  if (PathExists(path)) {
    absl::StatusOr<std::string> old = ReadFileToString(path);
    if (!old.ok()) return old.status();
    for (absl::string_view line : absl::StrSplit(*old, '\n', absl::SkipEmpty())) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      // A torn last line (killed mid-write) is dropped with the rest.
      if (j.is_discarded() || !j.contains("step") || !j["step"].is_number_integer()) break;
      if (j["step"].get<int64_t>() > keep_through_step) break;
      absl::StrAppend(&kept, line, "\n");
    }
  }
  if (auto s = WriteFileAtomically(path, kept); !s.ok()) return s;
  FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) return absl::InternalError(absl::StrCat(path, ": cannot open for appending"));
  return MetricsLog(path, f);
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status MetricsLog::Write(const StepMetrics& m) {
  const std::string line = MetricsJson(m) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    return absl::InternalError(absl::StrCat(path_, ": write failed"));
  }
  return absl::OkStatus();
}

}  // namespace ssd
