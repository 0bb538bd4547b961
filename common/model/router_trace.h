// RouterTrace: what one training forward of a qwen3_moe model records of its
// routing, and how the router's load-balancing loss reaches the gradient.
//
// Each MoE layer hands the trace its fp32 router logits [R, E] (R = B * T
// rows of the micro-batch) and the experts it chose [R, k]. The trace counts
// the choices and sums the softmax over the real rows (pads excluded), once
// per layer: a layer run again in backward (activation checkpointing, a
// sharded layer) records nothing new. Those sums give the expert load of the
// step's metrics and the value of the auxiliary loss:
//
//   kHf (transformers' load_balancing_loss_func): one softmax p over the
//     raw logits of every MoE layer pooled, M = layers x real tokens rows;
//     f[j, e] = share of rows whose j-th choice is e, P[e] = mean of p[., e];
//     aux = E * sum_{j,e} f[j, e] * P[e]  (k at perfect balance);
//   kPerLayer (Megatron's switch loss per layer, summed): for each layer,
//     aux_l = E / (T^2 k) * sum_e (sum_t p[t, e]) * (tokens routed to e)
//     (1 per layer at perfect balance);
//   kOff: nothing is added (the loss of the 30B's file and of TRL by default).
//
// The loss reaches the router through a gradient hook on each layer's logits
// rather than through a tensor kept until the loss: the choices are not
// differentiable, so d aux / d p[t, e] is a constant per expert once the
// forward has counted them (E * C[e] / M^2 pooled; E * c_l[e] / (T^2 k) per
// layer), and d aux / d logits is the softmax's Jacobian applied to it, row
// by row. That holds the logits of no layer past its own backward, and works
// the same when the layer is recomputed in backward.
//
// The hooks read the trace during backward: it must outlive the backward
// of the forward it traced. Not thread-safe; one per micro-batch.
#ifndef SSD_COMMON_MODEL_ROUTER_TRACE_H_
#define SSD_COMMON_MODEL_ROUTER_TRACE_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/expert_load.h"
#include "common/model/model_config.h"

namespace ssd {

enum class RouterAuxLoss { kOff, kHf, kPerLayer };

// "off", "hf", "per_layer".
const char* RouterAuxLossName(RouterAuxLoss loss);
absl::StatusOr<RouterAuxLoss> ParseRouterAuxLoss(const std::string& name);

class RouterTrace {
 public:
  // `real_R`: bool [R], which rows are real tokens. `scale` multiplies the
  // aux loss's gradient (the trainer's loss coefficient times the
  // micro-batch's weight in the step); 0 or kOff adds none.
  RouterTrace(const ModelConfig& config, RouterAuxLoss loss, double scale, at::Tensor real_R);

  // Called by MoE layer `layer` with its fp32 logits [R, E], their softmax
  // (the tensor the layer routes on: the hook keeps it, sharing what
  // autograd keeps for the softmax) and its choices [R, k]. When the logits
  // require grad, hooks the aux loss's gradient onto them.
  void Observe(int64_t layer, const at::Tensor& logits_RE, const at::Tensor& probs_RE, const at::Tensor& experts_Rk);

  // After the forward: the aux loss of the traced rows (without the scale),
  // 0 when kOff or no MoE layer ran.
  double AuxLoss() const;
  // Each MoE layer's load, by ascending layer.
  std::vector<ExpertLoad> Loads() const;

 private:
  struct Layer {
    std::vector<int64_t> counts;  // [E]
    std::vector<double> prob_sums;  // [E]
  };
  // d aux / d p[., e] for `layer`'s rows.
  std::vector<double> ProbGradient(int64_t layer) const;

  const int64_t num_experts_, top_k_, num_moe_layers_;
  const RouterAuxLoss loss_;
  const double scale_;
  const at::Tensor real_R_;
  const int64_t real_tokens_;
  std::map<int64_t, Layer> layers_;
};

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_ROUTER_TRACE_H_
