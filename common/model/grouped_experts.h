// The experts of a mixture-of-experts layer as one autograd node over rows
// grouped by expert: each active expert runs one matmul for its gate|up and
// one for its down projection over the rows routed to it.
//
// Why a node of its own: run as ATen ops on `experts_gate_up[e]`, every
// expert's backward would go through select(), whose gradient is a zero
// tensor of the whole [E, 2I, H] stack with one slice filled; the layer's
// backward would then allocate and add E stacks (for Qwen3-30B-A3B, 128
// tensors of 1.6 GB per layer). Here the backward writes each expert's
// slice of one gradient per stack. It also keeps less for backward: the
// rows' inputs and their gate|up outputs, recomputing SiLU and the product.
//
// Under autocast the forward's matmuls run in its dtype (bf16 on CUDA); the
// backward runs in the dtype the forward's gate|up came out in and returns
// gradients in the parameters' dtype.
#ifndef SSD_COMMON_MODEL_GROUPED_EXPERTS_H_
#define SSD_COMMON_MODEL_GROUPED_EXPERTS_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace ssd {

// x_AH: the assignments' input rows, grouped so expert e's rows are
// [offsets[e], offsets[e + 1]); gate_up_E2IH [E, 2I, H] (rows gate | up per
// expert), down_EHI [E, H, I]. Returns y_AH, row a = down_e(silu(gate_e(x))
// * up_e(x)) for its expert e. Differentiable in all three tensors.
at::Tensor GroupedExperts(const at::Tensor& x_AH, const at::Tensor& gate_up_E2IH, const at::Tensor& down_EHI,
                          const std::vector<int64_t>& offsets);

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_GROUPED_EXPERTS_H_
