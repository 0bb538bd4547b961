#include "common/model/flash_attention.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace ssd {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// The keys of tile (query rows [qs, qs + lq), keys [ks, ks + lk)) that lie
// after their query: [lq, lk], true where masked.
at::Tensor AfterTheQuery(int64_t qs, int64_t lq, int64_t ks, int64_t lk, const at::Device& device) {
  const auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  return (at::arange(ks, ks + lk, opts).unsqueeze(0) > at::arange(qs, qs + lq, opts).unsqueeze(1));
}

// Whether a tile reaches past the diagonal (some key after some query).
bool NeedsMask(int64_t qs, int64_t ks, int64_t lk) { return ks + lk - 1 > qs; }

class FlashAttentionFunction : public torch::autograd::Function<FlashAttentionFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, at::Tensor q, at::Tensor k, at::Tensor v, int64_t block) {
    const int64_t N = q.size(1), L = q.size(2), D = q.size(3), K = k.size(1), G = N / K;
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    // Query heads n = kv * G + r share kv head `kv`: [K, G, L, D], so one
    // batched matmul per tile serves all heads of a group.
    const at::Tensor qf = q[0].to(at::kFloat).reshape({K, G, L, D});
    const at::Tensor kf = k[0].to(at::kFloat), vf = v[0].to(at::kFloat);
    at::Tensor out = at::empty({K, G, L, D}, qf.options());
    at::Tensor lse = at::empty({K, G, L}, qf.options());
    for (int64_t qs = 0; qs < L; qs += block) {
      const int64_t lq = std::min(block, L - qs);
      const at::Tensor qi = qf.narrow(2, qs, lq).reshape({K, G * lq, D}) * scale;
      at::Tensor m = at::full({K, G * lq}, kMinusInf, qf.options());
      at::Tensor l = at::zeros({K, G * lq}, qf.options());
      at::Tensor acc = at::zeros({K, G * lq, D}, qf.options());
      // Key block 0 holds key 0, which every query sees, so m is finite
      // from the first tile on and no row is ever all -inf.
      for (int64_t ks = 0; ks < qs + lq; ks += block) {
        const int64_t lk = std::min(block, qs + lq - ks);
        at::Tensor s = at::bmm(qi, kf.narrow(1, ks, lk).transpose(1, 2));  // [K, G*lq, lk]
        if (NeedsMask(qs, ks, lk))
          s.view({K, G, lq, lk}).masked_fill_(AfterTheQuery(qs, lq, ks, lk, s.device()), kMinusInf);
        const at::Tensor m_new = at::maximum(m, at::amax(s, -1));
        const at::Tensor p = (s - m_new.unsqueeze(-1)).exp_();
        const at::Tensor rescale = (m - m_new).exp_();
        l = l * rescale + p.sum(-1);
        acc = acc * rescale.unsqueeze(-1) + at::bmm(p, vf.narrow(1, ks, lk));
        m = m_new;
      }
      out.narrow(2, qs, lq).copy_((acc / l.unsqueeze(-1)).view({K, G, lq, D}));
      lse.narrow(2, qs, lq).copy_((m + l.log()).view({K, G, lq}));
    }
    ctx->save_for_backward({q, k, v, out, lse});
    ctx->saved_data["block"] = block;
    return out.view({N, L, D}).transpose(0, 1).reshape({1, L, N * D}).to(v.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &lse = saved[4];
    const int64_t block = ctx->saved_data["block"].toInt();
    const int64_t N = q.size(1), L = q.size(2), D = q.size(3), K = k.size(1), G = N / K;
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    const at::Tensor qf = q[0].to(at::kFloat).reshape({K, G, L, D});
    const at::Tensor kf = k[0].to(at::kFloat), vf = v[0].to(at::kFloat);
    const at::Tensor dout = grads[0].to(at::kFloat).reshape({L, N, D}).transpose(0, 1).reshape({K, G, L, D});
    const at::Tensor delta = (dout * out).sum(-1);  // rowsum(dO ∘ O), [K, G, L]
    at::Tensor dq = at::empty({K, G, L, D}, qf.options());
    at::Tensor dk = at::zeros({K, L, D}, qf.options());
    at::Tensor dv = at::zeros({K, L, D}, qf.options());
    for (int64_t qs = 0; qs < L; qs += block) {
      const int64_t lq = std::min(block, L - qs);
      const at::Tensor qi = qf.narrow(2, qs, lq).reshape({K, G * lq, D}) * scale;
      const at::Tensor doi = dout.narrow(2, qs, lq).reshape({K, G * lq, D});
      const at::Tensor lse_i = lse.narrow(2, qs, lq).reshape({K, G * lq, 1});
      const at::Tensor delta_i = delta.narrow(2, qs, lq).reshape({K, G * lq, 1});
      at::Tensor dqi = at::zeros({K, G * lq, D}, qf.options());
      for (int64_t ks = 0; ks < qs + lq; ks += block) {
        const int64_t lk = std::min(block, qs + lq - ks);
        const at::Tensor kj = kf.narrow(1, ks, lk), vj = vf.narrow(1, ks, lk);
        at::Tensor s = at::bmm(qi, kj.transpose(1, 2));
        if (NeedsMask(qs, ks, lk))
          s.view({K, G, lq, lk}).masked_fill_(AfterTheQuery(qs, lq, ks, lk, s.device()), kMinusInf);
        const at::Tensor p = (s - lse_i).exp_();  // masked keys: exactly 0
        dv.narrow(1, ks, lk).add_(at::bmm(p.transpose(1, 2), doi));
        const at::Tensor ds = p * (at::bmm(doi, vj.transpose(1, 2)) - delta_i);
        dqi.add_(at::bmm(ds, kj));
        dk.narrow(1, ks, lk).add_(at::bmm(ds.transpose(1, 2), qi));
      }
      dq.narrow(2, qs, lq).copy_((dqi * scale).view({K, G, lq, D}));
    }
    return {dq.view({1, N, L, D}).to(q.scalar_type()), dk.unsqueeze(0).to(k.scalar_type()),
            dv.unsqueeze(0).to(v.scalar_type()), at::Tensor()};
  }
};

}  // namespace

at::Tensor FlashAttention(const at::Tensor& q_1NLD, const at::Tensor& k_1KLD, const at::Tensor& v_1KLD, int64_t block) {
#if TORCH_VERSION_MAJOR >= 2
  if (q_1NLD.is_cuda()) {
    const int64_t N = q_1NLD.size(1), L = q_1NLD.size(2), D = q_1NLD.size(3), K = k_1KLD.size(1);
    // The fused kernels take equal head counts: repeat each kv head for its
    // N / K query heads (K·L·D more memory, not L²).
    const at::Tensor k = K == N ? k_1KLD : k_1KLD.repeat_interleave(N / K, 1);
    const at::Tensor v = K == N ? v_1KLD : v_1KLD.repeat_interleave(N / K, 1);
    at::Tensor o = at::scaled_dot_product_attention(q_1NLD, k, v, {}, 0.0, /*is_causal=*/true);
    return o.transpose(1, 2).reshape({1, L, N * D});
  }
#endif
  return FlashAttentionFunction::apply(q_1NLD, k_1KLD, v_1KLD, std::max<int64_t>(block, 1));
}

}  // namespace ssd
