#include "common/model/checkpointed_layer.h"

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

#include <memory>
#include <utility>

#include "common/model/autocast.h"

namespace ssd {
namespace {

using torch::autograd::variable_list;

// The backward of one checkpointed layer: holds the layer's input (detached,
// so no graph is kept alive through it) and the layer itself.
class RecomputeLayer : public torch::autograd::Node {
 public:
  RecomputeLayer(LayerFn layer, at::Tensor input, Autocast autocast)
      : layer_(std::move(layer)), input_(std::move(input)), autocast_(autocast) {}

  std::string name() const override { return "ssd::RecomputeLayer"; }

  variable_list apply(variable_list&& grads) override {
    // The input is released after the first backward (as autograd frees
    // saved tensors); a second one through the same graph cannot recompute.
    TORCH_CHECK(layer_ != nullptr,
                "a checkpointed layer's backward ran twice; activation checkpointing does not keep its graph "
                "(retain_graph)");
    at::Tensor x = input_.detach().requires_grad_(input_needs_grad_);
    at::Tensor y;
    {
      at::AutoGradMode on(true);
      AutocastScope autocast(autocast_);
      y = layer_(x);
    }
    // A nested backward through the recomputed layer: the parameters'
    // AccumulateGrad nodes add into .grad as in an uncheckpointed graph.
    if (grads[0].defined()) torch::autograd::backward({y}, {grads[0]});
    at::Tensor dx = input_needs_grad_ ? x.grad() : at::Tensor();
    release_variables();
    return {dx};
  }

  void release_variables() override {
    input_.reset();
    layer_ = nullptr;
  }

  bool input_needs_grad_ = false;

 private:
  LayerFn layer_;
  at::Tensor input_;
  const Autocast autocast_;
};

}  // namespace

at::Tensor CheckpointedLayer(const LayerFn& layer, const at::Tensor& x) {
  if (!at::GradMode::is_enabled()) return layer(x);
  // The forward that training sees: the same ops with gradients on (so the
  // same kernels as the recompute), its graph dropped as soon as it ends.
  at::Tensor y = layer(x.detach());
  if (!x.requires_grad() && !y.requires_grad()) return y;  // nothing needs a gradient
  y = y.detach();
  auto node = std::shared_ptr<RecomputeLayer>(new RecomputeLayer(layer, x.detach(), CurrentAutocast()),
                                              torch::autograd::deleteNode);
  node->input_needs_grad_ = x.requires_grad();
  node->set_next_edges(torch::autograd::collect_next_edges(x));
  torch::autograd::set_history(y, node);
  return y;
}

}  // namespace ssd
