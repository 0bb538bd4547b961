#include "trainer_worker/adamw.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ssd {

absl::Status AdamWOptions::Validate() const {
  if (!(beta1 >= 0 && beta1 < 1))
    return absl::InvalidArgumentError(absl::StrCat("beta1: must be in [0, 1), got ", beta1));
  if (!(beta2 >= 0 && beta2 < 1))
    return absl::InvalidArgumentError(absl::StrCat("beta2: must be in [0, 1), got ", beta2));
  if (!(eps > 0)) return absl::InvalidArgumentError(absl::StrCat("eps: must be > 0, got ", eps));
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay)) {
    return absl::InvalidArgumentError(absl::StrCat("weight_decay: must be >= 0, got ", weight_decay));
  }
  return absl::OkStatus();
}

bool IsDecayed(const std::string& name, const at::Tensor& param) {
  return param.dim() >= 2 && !absl::StrContains(name, "norm");
}

AdamW::AdamW(NamedTensors params, const AdamWOptions& options) : options_(options), params_(std::move(params)) {
  for (const auto& [name, p] : params_) {
    decayed_.push_back(IsDecayed(name, p));
    exp_avg_.push_back(at::zeros_like(p, p.options().dtype(at::kFloat)));
    exp_avg_sq_.push_back(at::zeros_like(p, p.options().dtype(at::kFloat)));
    denom_.push_back(at::empty_like(exp_avg_sq_.back()));
  }
}

void AdamWUpdate(const AdamWOptions& options, double lr, int64_t t, bool decayed, at::Tensor& p, const at::Tensor& g,
                 at::Tensor& m, at::Tensor& v, at::Tensor& denom) {
  const double bc1 = 1.0 - std::pow(options.beta1, static_cast<double>(t));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(options.beta2, static_cast<double>(t)));
  at::NoGradGuard no_grad;
  if (decayed && options.weight_decay != 0) p.mul_(1.0 - lr * options.weight_decay);
  m.mul_(options.beta1).add_(g, 1.0 - options.beta1);
  v.mul_(options.beta2).addcmul_(g, g, 1.0 - options.beta2);
  // denom = sqrt(v) / sqrt(1 - b2^t) + eps, in a buffer kept across steps
  // (a fresh parameter-sized temporary per step costs page faults).
  at::sqrt_out(denom, v);
  denom.div_(bc2_sqrt).add_(options.eps);
  p.addcdiv_(m, denom, -lr / bc1);
}

void AdamW::Step(double lr) {
  ++steps_;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor p = params_[i].second;
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    AdamWUpdate(options_, lr, steps_, decayed_[i], p, g, exp_avg_[i], exp_avg_sq_[i], denom_[i]);
  }
}

int64_t AdamW::StateBytes() const {
  int64_t bytes = 0;
  for (const auto* v : {&exp_avg_, &exp_avg_sq_, &denom_}) {
    for (const at::Tensor& t : *v) bytes += t.numel() * static_cast<int64_t>(t.element_size());
  }
  return bytes;
}

NamedTensors AdamW::StateTensors() const {
  NamedTensors out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("exp_avg." + params_[i].first, exp_avg_[i]);
    out.emplace_back("exp_avg_sq." + params_[i].first, exp_avg_sq_[i]);
  }
  return out;
}

absl::Status AdamW::LoadState(const std::map<std::string, at::Tensor>& state, int64_t steps) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto [prefix, dst] : {std::pair<const char*, at::Tensor*>{"exp_avg.", &exp_avg_[i]},
                               std::pair<const char*, at::Tensor*>{"exp_avg_sq.", &exp_avg_sq_[i]}}) {
      const std::string name = prefix + params_[i].first;
      auto it = state.find(name);
      if (it == state.end()) return absl::NotFoundError(absl::StrCat("optimizer state: missing tensor ", name));
      if (!it->second.sizes().equals(dst->sizes())) {
        return absl::FailedPreconditionError(absl::StrCat("optimizer state: tensor ", name, " has shape ",
                                                          c10::str(it->second.sizes()), " but the parameter has ",
                                                          c10::str(dst->sizes())));
      }
      dst->copy_(it->second);
    }
  }
  steps_ = steps;
  return absl::OkStatus();
}

}  // namespace ssd
