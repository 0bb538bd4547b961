#include "common/model/grouped_experts.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <utility>

namespace ssd {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class GroupedExpertsFunction : public torch::autograd::Function<GroupedExpertsFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& gate_up,
                            const at::Tensor& down, std::vector<int64_t> offsets) {
    const int64_t E = gate_up.size(0), I = down.size(2);
    std::vector<at::Tensor> ys, gus;
    for (int64_t e = 0; e < E; ++e) {
      const int64_t n = offsets[e + 1] - offsets[e];
      if (n == 0) continue;
      at::Tensor gu = at::mm(x.narrow(0, offsets[e], n), gate_up[e].t());
      at::Tensor act = at::silu(gu.narrow(1, 0, I)) * gu.narrow(1, I, I);
      ys.push_back(at::mm(act, down[e].t()));
      gus.push_back(std::move(gu));
    }
    at::Tensor y = ys.empty() ? at::zeros({0, x.size(1)}, x.options()) : at::cat(ys);
    at::Tensor gu = gus.empty() ? at::zeros({0, 2 * I}, x.options()) : at::cat(gus);
    ctx->save_for_backward({x, gate_up, down, gu});
    ctx->saved_data["offsets"] = offsets;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &gate_up = saved[1], &down = saved[2], &gu_all = saved[3];
    const std::vector<int64_t> offsets = ctx->saved_data["offsets"].toIntVector();
    const int64_t E = gate_up.size(0), I = down.size(2);
    const at::ScalarType cd = gu_all.scalar_type();
    at::Tensor grad_y = grads[0].to(cd);
    at::Tensor d_gate_up = at::zeros_like(gate_up), d_down = at::zeros_like(down);
    at::Tensor d_x = at::empty_like(x);
    int64_t at_row = 0;  // rows of gu_all / grad_y are the active experts' in order
    for (int64_t e = 0; e < E; ++e) {
      const int64_t off = offsets[e], n = offsets[e + 1] - off;
      if (n == 0) continue;
      at::Tensor gu = gu_all.narrow(0, at_row, n), gy = grad_y.narrow(0, at_row, n);
      at_row += n;
      at::Tensor g = gu.narrow(1, 0, I), u = gu.narrow(1, I, I);
      at::Tensor sig = at::sigmoid(g);
      at::Tensor silu = g * sig;
      d_down[e].copy_(at::mm(gy.t(), silu * u));
      at::Tensor d_act = at::mm(gy, down[e].to(cd));
      // d silu(g) / dg = sigmoid(g) (1 + g (1 - sigmoid(g))).
      at::Tensor d_g = d_act * u * (sig * (1 + g * (1 - sig)));
      at::Tensor d_gu = at::cat({d_g, d_act * silu}, 1);
      at::Tensor x_e = x.narrow(0, off, n).to(cd);
      d_gate_up[e].copy_(at::mm(d_gu.t(), x_e));
      d_x.narrow(0, off, n).copy_(at::mm(d_gu, gate_up[e].to(cd)));
    }
    return {d_x, d_gate_up, d_down, at::Tensor()};
  }
};

}  // namespace

at::Tensor GroupedExperts(const at::Tensor& x_AH, const at::Tensor& gate_up_E2IH, const at::Tensor& down_EHI,
                          const std::vector<int64_t>& offsets) {
  return GroupedExpertsFunction::apply(x_AH, gate_up_E2IH, down_EHI, offsets);
}

}  // namespace ssd
