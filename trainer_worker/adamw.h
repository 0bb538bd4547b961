// AdamW (Loshchilov & Hutter) with decoupled weight decay, over named
// parameter tensors updated in place. Per parameter p with gradient g, at
// step t (1-based):
//   p <- p * (1 - lr * wd)                     [decayed parameters only]
//   m <- b1 m + (1 - b1) g
//   v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// which is the update torch.optim.AdamW makes.
//
// Decay groups: weight decay applies to matrices (embeddings, projections,
// lm_head) and never to norm weights or biases (IsDecayed()).
// Moments live in fp32 next to their parameter (fp32 master weights).
// Not thread-safe.
#ifndef SSD_TRAINER_WORKER_ADAMW_H_
#define SSD_TRAINER_WORKER_ADAMW_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/model/checkpoint.h"

namespace ssd {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;

  absl::Status Validate() const;
};

// True for parameters that take weight decay: 2-D or more and not a norm.
bool IsDecayed(const std::string& name, const at::Tensor& param);

// The update above for one tensor at step t: p from its gradient g, with
// moments m and v and a scratch tensor `denom` of p's shape (all fp32, one
// device). AdamW::Step runs it per parameter; a sharded optimizer runs it
// per slice of a flat shard (sharded_model.h).
void AdamWUpdate(const AdamWOptions& options, double lr, int64_t t, bool decayed, at::Tensor& p, const at::Tensor& g,
                 at::Tensor& m, at::Tensor& v, at::Tensor& denom);

class AdamW {
 public:
  // `params` are leaf tensors (fp32); their .grad() is read by Step().
  AdamW(NamedTensors params, const AdamWOptions& options);

  // One update with learning rate `lr`. Parameters without a gradient are
  // left alone (their moments do not advance).
  void Step(double lr);

  // Number of Step() calls so far (t of the last update).
  int64_t steps() const { return steps_; }

  // Moments for checkpoints: "exp_avg.<name>" and "exp_avg_sq.<name>".
  NamedTensors StateTensors() const;
  // Restores what StateTensors() returned plus the step count. Fails, naming
  // the tensor, on a missing name or a shape mismatch.
  absl::Status LoadState(const std::map<std::string, at::Tensor>& state, int64_t steps);

  const NamedTensors& params() const { return params_; }
  // Bytes of the moments and the update's scratch.
  int64_t StateBytes() const;

 private:
  const AdamWOptions options_;
  NamedTensors params_;
  std::vector<bool> decayed_;
  std::vector<at::Tensor> exp_avg_;
  std::vector<at::Tensor> exp_avg_sq_;
  std::vector<at::Tensor> denom_;  // scratch for the update
  int64_t steps_ = 0;
};

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_ADAMW_H_
