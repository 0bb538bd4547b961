#include "common/model/router_trace.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ssd {

const char* RouterAuxLossName(RouterAuxLoss loss) {
  switch (loss) {
    case RouterAuxLoss::kOff: return "off";
    case RouterAuxLoss::kHf: return "hf";
    case RouterAuxLoss::kPerLayer: return "per_layer";
  }
  return "?";
}

absl::StatusOr<RouterAuxLoss> ParseRouterAuxLoss(const std::string& name) {
  if (name == "off") return RouterAuxLoss::kOff;
  if (name == "hf") return RouterAuxLoss::kHf;
  if (name == "per_layer") return RouterAuxLoss::kPerLayer;
  return absl::InvalidArgumentError(absl::StrCat("router_aux_loss: \"", name, "\" is not one of hf, per_layer, off"));
}

RouterTrace::RouterTrace(const ModelConfig& config, RouterAuxLoss loss, double scale, at::Tensor real_R)
    : num_experts_(config.moe.num_experts),
      top_k_(config.moe.num_experts_per_tok),
      num_moe_layers_(config.num_moe_layers()),
      loss_(loss),
      scale_(scale),
      real_R_(real_R.to(at::kBool)),
      real_tokens_(real_R_.sum().item<int64_t>()) {}

void RouterTrace::Observe(int64_t layer, const at::Tensor& logits_RE, const at::Tensor& probs_RE,
                          const at::Tensor& experts_Rk) {
  at::Tensor real = real_R_.to(logits_RE.device());
  at::Tensor probs = probs_RE.detach();
  if (layers_.count(layer) == 0) {
    // The first run of this layer in this forward; a recompute in backward
    // sees the same rows and choices.
    at::Tensor idx = real.nonzero().squeeze(1);
    at::Tensor chosen = experts_Rk.index_select(0, idx).reshape({-1});
    at::Tensor counts = at::bincount(chosen, {}, num_experts_).to(at::kCPU, at::kLong);
    at::Tensor sums = probs.index_select(0, idx).sum(0).to(at::kCPU, at::kDouble);
    Layer& l = layers_[layer];
    l.counts.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + num_experts_);
    l.prob_sums.assign(sums.data_ptr<double>(), sums.data_ptr<double>() + num_experts_);
  }
  if (loss_ == RouterAuxLoss::kOff || scale_ == 0 || !logits_RE.requires_grad()) return;
  logits_RE.register_hook([this, layer, probs, real](const at::Tensor& grad) {
    const std::vector<double> g = ProbGradient(layer);
    at::Tensor g_E = at::tensor(g, at::kDouble).to(grad.device(), at::kFloat).mul_(scale_);
    // The softmax's Jacobian: d/dz_i = p_i (g_i - sum_e p_e g_e).
    at::Tensor pg = probs * g_E;
    at::Tensor add = (pg - probs * pg.sum(-1, /*keepdim=*/true)) * real.unsqueeze(1).to(grad.scalar_type());
    return grad + add;
  });
}

std::vector<double> RouterTrace::ProbGradient(int64_t layer) const {
  std::vector<double> g(static_cast<size_t>(num_experts_), 0.0);
  if (real_tokens_ == 0) return g;
  const double E = static_cast<double>(num_experts_), T = static_cast<double>(real_tokens_);
  if (loss_ == RouterAuxLoss::kHf) {
    const double M = static_cast<double>(num_moe_layers_) * T;
    for (const auto& [index, l] : layers_) {
      for (int64_t e = 0; e < num_experts_; ++e) g[e] += E * static_cast<double>(l.counts[e]) / (M * M);
    }
  } else if (loss_ == RouterAuxLoss::kPerLayer) {
    const Layer& l = layers_.at(layer);
    for (int64_t e = 0; e < num_experts_; ++e) g[e] = E * static_cast<double>(l.counts[e]) / (T * T * top_k_);
  }
  return g;
}

double RouterTrace::AuxLoss() const {
  if (real_tokens_ == 0 || layers_.empty()) return 0;
  const double E = static_cast<double>(num_experts_), T = static_cast<double>(real_tokens_);
  double aux = 0;
  if (loss_ == RouterAuxLoss::kHf) {
    const double M = static_cast<double>(num_moe_layers_) * T;
    for (int64_t e = 0; e < num_experts_; ++e) {
      double counts = 0, sums = 0;
      for (const auto& [index, l] : layers_) counts += static_cast<double>(l.counts[e]), sums += l.prob_sums[e];
      aux += E * counts * sums / (M * M);
    }
  } else if (loss_ == RouterAuxLoss::kPerLayer) {
    for (const auto& [index, l] : layers_) {
      for (int64_t e = 0; e < num_experts_; ++e) {
        aux += E * static_cast<double>(l.counts[e]) * l.prob_sums[e] / (T * T * top_k_);
      }
    }
  }
  return aux;
}

std::vector<ExpertLoad> RouterTrace::Loads() const {
  std::vector<ExpertLoad> out;
  for (const auto& [index, l] : layers_) out.push_back({index, real_tokens_, l.counts});
  return out;
}

}  // namespace ssd
