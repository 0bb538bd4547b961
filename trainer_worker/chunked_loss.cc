#include "trainer_worker/chunked_loss.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <utility>

#include "common/model/autocast.h"

namespace ssd {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One chunk's summed loss. The logits are cast to fp32 before the
// cross-entropy, as Decoder::Logits returns them.
at::Tensor ChunkLoss(const at::Tensor& h, const at::Tensor& w, const at::Tensor& t, double label_smoothing) {
  return at::cross_entropy_loss(at::linear(h, w).to(at::kFloat), t, {}, at::Reduction::Sum, /*ignore_index=*/-100,
                                label_smoothing);
}

class ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
 public:
  // Runs with gradients off (the Function machinery turns them off): no
  // chunk keeps anything.
  static at::Tensor forward(AutogradContext* ctx, at::Tensor h, at::Tensor w, at::Tensor t, double label_smoothing,
                            int64_t rows) {
    ctx->save_for_backward({h, w, t});
    ctx->saved_data["label_smoothing"] = label_smoothing;
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["autocast"] = static_cast<int64_t>(CurrentAutocast());
    const int64_t n = h.size(0);
    at::Tensor sum = at::zeros({}, h.options().dtype(at::kFloat));
    for (int64_t begin = 0; begin < n; begin += rows) {
      const int64_t len = std::min(rows, n - begin);
      sum.add_(ChunkLoss(h.narrow(0, begin, len), w, t.narrow(0, begin, len), label_smoothing));
    }
    return sum;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& h = saved[0];
    const at::Tensor& t = saved[2];
    const double label_smoothing = ctx->saved_data["label_smoothing"].toDouble();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    const bool need_h = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    const at::Tensor& g = grad_outputs[0];
    if (!need_h && !need_w) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    at::Tensor dh = need_h ? at::empty_like(h) : at::Tensor();
    at::Tensor dw;
    at::Tensor w = saved[1].detach().requires_grad_(need_w);
    at::AutoGradMode on(true);
    AutocastScope autocast(static_cast<Autocast>(ctx->saved_data["autocast"].toInt()));
    const int64_t n = h.size(0);
    for (int64_t begin = 0; begin < n; begin += rows) {
      const int64_t len = std::min(rows, n - begin);
      at::Tensor hc = h.narrow(0, begin, len).detach().requires_grad_(need_h);
      at::Tensor loss = ChunkLoss(hc, w, t.narrow(0, begin, len), label_smoothing);
      variable_list inputs;
      if (need_h) inputs.push_back(hc);
      if (need_w) inputs.push_back(w);
      const variable_list grads = torch::autograd::grad({loss}, inputs, {g});
      if (need_h) dh.narrow(0, begin, len).copy_(grads[0]);
      if (need_w) {
        const at::Tensor& gw = grads[need_h ? 1 : 0];
        if (dw.defined()) {
          dw.add_(gw);
        } else {
          dw = gw.clone();
        }
      }
    }
    return {dh, dw, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor ChunkedCrossEntropySum(const at::Tensor& hidden_nH, const at::Tensor& weight_VH, const at::Tensor& targets_n,
                                  double label_smoothing, int64_t chunk_rows, int64_t recompute_above_bytes) {
  const int64_t n = hidden_nH.size(0), vocab = weight_VH.size(0);
  const int64_t rows = chunk_rows > 0 ? chunk_rows : LossChunkRows(n, hidden_nH.size(1), vocab);
  if (n == 0) return at::zeros({}, hidden_nH.options().dtype(at::kFloat)) * hidden_nH.sum();
  const bool recompute = at::GradMode::is_enabled() && (hidden_nH.requires_grad() || weight_VH.requires_grad()) &&
                         n * vocab * 4 > recompute_above_bytes;
  if (recompute) return ChunkedCrossEntropy::apply(hidden_nH, weight_VH, targets_n, label_smoothing, rows);
  at::Tensor sum;
  for (int64_t begin = 0; begin < n; begin += rows) {
    const int64_t len = std::min(rows, n - begin);
    at::Tensor part =
        ChunkLoss(hidden_nH.narrow(0, begin, len), weight_VH, targets_n.narrow(0, begin, len), label_smoothing);
    sum = sum.defined() ? sum + part : part;
  }
  return sum;
}

}  // namespace ssd
