#include "common/model/decoder.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/model/attention.h"
#include "common/model/autocast.h"
#include "common/model/checkpointed_layer.h"
#include "common/model/cpu_decode_step.h"
#include "common/model/cpu_kernels.h"
#include "common/model/cpu_packed_matmul.h"
#include "common/model/grouped_experts.h"
#include "common/model/moe_routing.h"
#include "common/model/rope.h"
#include "common/model/weight_layout.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

// The fused CPU kernels serve inference only: autograd needs the ATen graph.
bool UseCpuKernels(const at::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == at::kFloat && !at::GradMode::is_enabled();
}

at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (UseCpuKernels(x) && x.is_contiguous()) {
    at::Tensor out = at::empty_like(x);
    const int64_t dim = x.size(-1);
    cpu::RmsNorm(x.data_ptr<float>(), weight.data_ptr<float>(), out.data_ptr<float>(), x.numel() / dim, dim,
                 static_cast<float>(eps));
    return out;
  }
  // Normalise in fp32 whatever the storage dtype, as transformers does.
  if (x.scalar_type() == at::kFloat) {
    return weight * (x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps));
  }
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor y = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return weight * y.to(x.scalar_type());
}

const uint16_t* Bf16Bits(const at::Tensor& t) { return reinterpret_cast<const uint16_t*>(t.data_ptr<at::BFloat16>()); }

// W [out, in] (fp32 or bf16, contiguous) in cpu_packed_matmul.h's layout.
at::Tensor Pack(const at::Tensor& w) {
  const int64_t out = w.size(0), in = w.size(1);
  at::Tensor p = at::empty({cpu::PackedElements(out, in)}, w.options());
  if (w.scalar_type() == at::kBFloat16) {
    cpu::PackMatrix(Bf16Bits(w), out, in, reinterpret_cast<uint16_t*>(p.data_ptr<at::BFloat16>()));
  } else {
    cpu::PackMatrix(w.data_ptr<float>(), out, in, p.data_ptr<float>());
  }
  return p;
}

cpu::PackedMatrix PackedView(const at::Tensor& packed, int64_t out, int64_t in) {
  cpu::PackedMatrix m;
  m.out = out, m.in = in;
  if (packed.scalar_type() == at::kBFloat16) {
    m.bf16 = reinterpret_cast<const uint16_t*>(packed.data_ptr<at::BFloat16>());
  } else {
    m.f32 = packed.data_ptr<float>();
  }
  return m;
}

// y[..., ldy] columns [col, col + out) = x W^T (+ b) for a packed W, split
// over the threads in groups of 64 outputs and over rows in passes of 64.
void PackedInto(const at::Tensor& x, const cpu::PackedMatrix& W, const at::Tensor& b, float* y, int64_t ldy) {
  const int64_t rows = x.numel() / std::max<int64_t>(W.in, 1);
  const float* xp = x.data_ptr<float>();
  const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
  constexpr int64_t kGroup = 4 * cpu::kPanel, kRows = 64;
  const int64_t groups = (W.out + kGroup - 1) / kGroup;
  at::parallel_for(0, groups, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = 0; r < rows; r += kRows) {
      cpu::PackedMatmul(xp + r * W.in, std::min(kRows, rows - r), W, bp, y + r * ldy, ldy, begin * kGroup,
                        std::min(end * kGroup, W.out));
    }
  });
}

// Linear over a packed W (inference decoders; see batch_invariant).
at::Tensor LinearPacked(const at::Tensor& x_in, const at::Tensor& packed, int64_t out, const at::Tensor& b) {
  at::Tensor x = x_in.contiguous();
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  const int64_t in = shape.back();
  shape.back() = out;
  at::Tensor y = at::empty(shape, x.options());
  PackedInto(x, PackedView(packed, out, in), b, y.data_ptr<float>(), out);
  return y;
}

// y = x W^T + b.
//
// Inference decoders (batch_invariant) pass `packed`: on the CPU kernel path
// every row goes through the packed matmul, whose per-row arithmetic does
// not depend on the other rows (sgemm and sgemv round differently for
// different row counts), so a sequence's logits are bitwise the same in any
// batch. Otherwise: with a single input row on CPU a matrix-vector product
// (sgemv) is 1.6-2x faster than the one-row sgemm `linear` would run; with a
// few rows the skinny kernel beats sgemm's per-call packing of W.
at::Tensor Linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                  const at::Tensor& packed = at::Tensor()) {
  const int64_t in = x.size(-1);
  if (packed.defined() && UseCpuKernels(x)) return LinearPacked(x, packed, w.size(0), b);
  if (w.scalar_type() != x.scalar_type()) {
    // bf16 CPU weights outside the kernel path (gradients on): widen and let
    // ATen do it, autograd included.
    return at::linear(x, w.to(x.scalar_type()), b.defined() ? c10::optional<at::Tensor>(b) : c10::nullopt);
  }
  if (x.numel() == in && x.device().is_cpu()) {
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = w.size(0);
    at::Tensor y = at::mv(w, x.reshape({in}));
    if (b.defined()) y.add_(b);
    return y.view(shape);
  }
  const int64_t rows = x.numel() / std::max<int64_t>(in, 1);
  if (rows <= 32 && UseCpuKernels(x) && x.is_contiguous()) {
    // Few rows (a decode batch): sgemm would re-pack all of W per call.
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = w.size(0);
    at::Tensor y = at::empty(shape, x.options());
    if (cpu::SkinnyMatmul(x.data_ptr<float>(), w.data_ptr<float>(), b.defined() ? b.data_ptr<float>() : nullptr,
                          y.data_ptr<float>(), rows, in, w.size(0))) {
      return y;
    }
  }
  return at::linear(x, w, b.defined() ? c10::optional<at::Tensor>(b) : c10::nullopt);
}

at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

struct QKV {
  at::Tensor q_BNTD, k_BKTD, v_BKTD;
};

// Positions for RoPE. The ATen path uses precomputed cos/sin [B, T, 1, D];
// the CPU kernels compute them from pos_BT (int64, contiguous) on the fly.
struct RopeTables {
  at::Tensor pos_BT;
  at::Tensor cos_BT1D, sin_BT1D;
  const float* inv_freq = nullptr;
};

// q/k/v projection with q/k norm and RoPE applied, as one fused matrix
// [B, T, (N + 2K) * D]. Kernel path only.
at::Tensor ProjectFusedQKV(const ModelConfig& c, const DecoderLayerWeights& w, const at::Tensor& h_BTH,
                           const RopeTables& rope) {
  at::Tensor qkv = Linear(h_BTH, w.qkv_weight, w.qkv_bias, w.qkv_packed).contiguous();
  cpu::QkNormRope(qkv.data_ptr<float>(), h_BTH.size(0) * h_BTH.size(1), c.num_attention_heads, c.num_key_value_heads,
                  c.head_dim, c.qk_norm() ? w.q_norm.data_ptr<float>() : nullptr,
                  c.qk_norm() ? w.k_norm.data_ptr<float>() : nullptr, static_cast<float>(c.rms_norm_eps),
                  rope.pos_BT.data_ptr<int64_t>(), rope.inv_freq);
  return qkv;
}

QKV ProjectQKV(const ModelConfig& c, const DecoderLayerWeights& w, const at::Tensor& h_BTH, const RopeTables& rope) {
  const int64_t B = h_BTH.size(0), T = h_BTH.size(1);
  const int64_t N = c.num_attention_heads, K = c.num_key_value_heads, D = c.head_dim;
  at::Tensor q, k, v;
  if (!rope.cos_BT1D.defined()) {
    at::Tensor qkv = ProjectFusedQKV(c, w, h_BTH, rope);
    q = qkv.narrow(-1, 0, N * D).view({B, T, N, D});
    k = qkv.narrow(-1, N * D, K * D).view({B, T, K, D});
    v = qkv.narrow(-1, (N + K) * D, K * D).view({B, T, K, D});
  } else {
    at::Tensor qkv = Linear(h_BTH, w.qkv_weight, w.qkv_bias);
    q = qkv.narrow(-1, 0, N * D).view({B, T, N, D});
    k = qkv.narrow(-1, N * D, K * D).view({B, T, K, D});
    v = qkv.narrow(-1, (N + K) * D, K * D).view({B, T, K, D});
    if (c.qk_norm()) {
      q = RmsNorm(q, w.q_norm, c.rms_norm_eps);
      k = RmsNorm(k, w.k_norm, c.rms_norm_eps);
    }
    q = q * rope.cos_BT1D + RotateHalf(q) * rope.sin_BT1D;
    k = k * rope.cos_BT1D + RotateHalf(k) * rope.sin_BT1D;
  }
  return {q.transpose(1, 2).contiguous(), k.transpose(1, 2).contiguous(), v.transpose(1, 2).contiguous()};
}

RopeTables MakeRope(const at::Tensor& pos_BT, const at::Tensor& inv_freq, at::ScalarType dtype, bool kernels) {
  RopeTables rope;
  rope.pos_BT = pos_BT.to(at::kLong).contiguous();
  rope.inv_freq = inv_freq.data_ptr<float>();
  if (!kernels) {
    // Angles in fp32 as transformers computes them, then cast to the model dtype.
    at::Tensor angles = rope.pos_BT.to(at::kFloat).unsqueeze(-1) * inv_freq;
    at::Tensor emb = at::cat({angles, angles}, -1).unsqueeze(2);  // [B, T, 1, D]
    rope.cos_BT1D = emb.cos().to(dtype);
    rope.sin_BT1D = emb.sin().to(dtype);
  }
  return rope;
}

// The mixture of experts over normed rows h_RH on the packed CPU kernels
// (inference decoders): the arithmetic of the one-region step
// (cpu_decode_step.h), operation by operation, so Forward and a decode step
// agree bitwise.
at::Tensor MoeKernels(const ModelConfig& c, const DecoderLayerWeights& w, const at::Tensor& h_RH) {
  const int64_t H = c.hidden_size, E = c.moe.num_experts, k = c.moe.num_experts_per_tok;
  const int64_t Ie = c.moe.moe_intermediate_size, R = h_RH.size(0), A = R * k;
  at::Tensor logits = at::empty({R, E}, h_RH.options());
  PackedInto(h_RH, PackedView(w.router_packed, E, H), at::Tensor(), logits.data_ptr<float>(), E);
  std::vector<int32_t> experts(static_cast<size_t>(A));
  std::vector<float> weights(static_cast<size_t>(A)), scratch(static_cast<size_t>(std::max(E, H)));
  for (int64_t r = 0; r < R; ++r) {
    cpu::RouteRow(logits.data_ptr<float>() + r * E, E, k, c.moe.norm_topk_prob, scratch.data(), &experts[r * k],
                  &weights[r * k]);
  }
  std::vector<int64_t> offsets, order, slot;
  cpu::GroupByExpert(experts.data(), R, k, E, &offsets, &order, &slot);
  at::Tensor xg = h_RH.index_select(0, at::div(at::tensor(order, at::kLong), k, "floor"));
  at::Tensor gu = at::empty({A, 2 * Ie}, h_RH.options()), act = at::empty({A, Ie}, h_RH.options());
  at::Tensor yg = at::empty({A, H}, h_RH.options());
  for (int64_t e = 0; e < E; ++e) {
    const int64_t off = offsets[e], n = offsets[e + 1] - off;
    if (n == 0) continue;
    at::Tensor x_e = xg.narrow(0, off, n);
    float* gu_e = gu.data_ptr<float>() + off * 2 * Ie;
    PackedInto(x_e, PackedView(w.experts_gate_packed[e], Ie, H), at::Tensor(), gu_e, 2 * Ie);
    PackedInto(x_e, PackedView(w.experts_up_packed[e], Ie, H), at::Tensor(), gu_e + Ie, 2 * Ie);
    cpu::SiluGate(gu_e, act.data_ptr<float>() + off * Ie, n, Ie);
    PackedInto(act.narrow(0, off, n), PackedView(w.experts_down_packed[e], H, Ie), at::Tensor(),
               yg.data_ptr<float>() + off * H, H);
  }
  at::Tensor out = at::empty({R, H}, h_RH.options());
  for (int64_t r = 0; r < R; ++r) {
    cpu::CombineExpertRow(&experts[r * k], &weights[r * k], &slot[r * k], k, yg.data_ptr<float>(), H, H,
                          out.data_ptr<float>() + r * H);
  }
  return out;
}

// The mixture of experts of a qwen3_moe layer on ATen ops (training, the
// per-operation inference path, CUDA); decoder.h gives the arithmetic.
// Inference decoders on CPU run MoeKernels instead.
at::Tensor MoeMlp(const ModelConfig& c, const DecoderLayerWeights& w, const at::Tensor& x, RouterTrace* trace) {
  at::Tensor h = RmsNorm(x, w.post_norm, c.rms_norm_eps);
  const int64_t H = c.hidden_size, E = c.moe.num_experts, k = c.moe.num_experts_per_tok;
  at::Tensor h_RH = h.reshape({-1, H});
  if (w.router_packed.defined() && UseCpuKernels(h_RH)) return MoeKernels(c, w, h_RH.contiguous()).view(h.sizes());
  at::Tensor logits_RE;
  {
    AutocastScope fp32(Autocast::kOff);
    logits_RE = at::linear(h_RH.to(at::kFloat), w.router_weight.to(at::kFloat));
  }
  at::Tensor probs_RE = at::softmax(logits_RE, -1);
  auto top = at::topk(probs_RE, k, -1, /*largest=*/true, /*sorted=*/true);
  at::Tensor weights_Rk = std::get<0>(top), experts_Rk = std::get<1>(top);
  if (trace != nullptr) trace->Observe(w.index, logits_RE, probs_RE, experts_Rk);
  if (c.moe.norm_topk_prob) weights_Rk = weights_Rk / weights_Rk.sum(-1, /*keepdim=*/true);
  weights_Rk = weights_Rk.to(h.scalar_type());
  // Assignments a = row * k + j, grouped by expert (stable: ascending a).
  at::Tensor flat_A = experts_Rk.reshape({-1});
  at::Tensor order_A = std::get<1>(at::sort(flat_A, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  at::Tensor counts = at::bincount(flat_A, {}, E).to(at::kCPU);
  std::vector<int64_t> offsets(static_cast<size_t>(E + 1), 0);
  for (int64_t e = 0; e < E; ++e) offsets[e + 1] = offsets[e] + counts.data_ptr<int64_t>()[e];
  at::Tensor rows_A = at::div(order_A, k, "floor");
  at::Tensor gate_up = w.experts_gate_up, down = w.experts_down;
  if (gate_up.scalar_type() != h_RH.scalar_type() && CurrentAutocast() == Autocast::kOff) {
    gate_up = gate_up.to(h_RH.scalar_type());  // bf16 CPU weights outside the kernels
    down = down.to(h_RH.scalar_type());
  }
  at::Tensor y_AH = GroupedExperts(h_RH.index_select(0, rows_A), gate_up, down, offsets);
  // transformers: final.index_add_(0, rows, expert(x) * weight), experts in
  // ascending order (index_add_ on CPU adds a row's terms in index order).
  at::Tensor weighted = y_AH * weights_Rk.reshape({-1}).index_select(0, order_A).unsqueeze(1);
  at::Tensor out_RH = at::zeros_like(h_RH);
  out_RH.index_add_(0, rows_A, weighted.to(out_RH.scalar_type()));
  return out_RH.view(h.sizes());
}

at::Tensor Mlp(const ModelConfig& c, const DecoderLayerWeights& w, const at::Tensor& x,
               RouterTrace* trace = nullptr) {
  if (w.is_moe()) return MoeMlp(c, w, x, trace);
  at::Tensor h = RmsNorm(x, w.post_norm, c.rms_norm_eps);
  const int64_t I = c.intermediate_size, H = c.hidden_size;
  at::Tensor gu;
  if (w.gate_packed.defined() && UseCpuKernels(h)) {
    // Packed gate and up, into the [..., gate | up] rows the SiLU reads.
    h = h.contiguous();
    std::vector<int64_t> shape(h.sizes().begin(), h.sizes().end());
    shape.back() = 2 * I;
    gu = at::empty(shape, h.options());
    PackedInto(h, PackedView(w.gate_packed, I, H), at::Tensor(), gu.data_ptr<float>(), 2 * I);
    PackedInto(h, PackedView(w.up_packed, I, H), at::Tensor(), gu.data_ptr<float>() + I, 2 * I);
  } else {
    gu = Linear(h, w.gate_up_weight, at::Tensor());
  }
  at::Tensor act;
  if (UseCpuKernels(gu) && gu.is_contiguous()) {
    std::vector<int64_t> shape(gu.sizes().begin(), gu.sizes().end());
    shape.back() = I;
    act = at::empty(shape, gu.options());
    cpu::SiluGate(gu.data_ptr<float>(), act.data_ptr<float>(), gu.numel() / (2 * I), I);
  } else {
    act = at::silu(gu.narrow(-1, 0, I)) * gu.narrow(-1, I, I);
  }
  return Linear(act, w.down_weight, at::Tensor(), w.down_packed);
}

using Runs = std::vector<std::vector<std::pair<int64_t, int64_t>>>;

// One decoder layer on the ATen path (training, bf16, CUDA): attention
// document by document over `runs` (SegmentRuns), or, when it is empty,
// under the [B, T, T] mask allowed_BTS.
at::Tensor AtenLayer(const ModelConfig& c, const DecoderLayerWeights& w, const at::Tensor& x, const RopeTables& rope,
                     const Runs& runs, const at::Tensor& allowed_BTS, bool blockwise, RouterTrace* trace) {
  QKV qkv = ProjectQKV(c, w, RmsNorm(x, w.input_norm, c.rms_norm_eps), rope);
  at::Tensor attn = runs.empty() ? Attend(qkv.q_BNTD, qkv.k_BKTD, qkv.v_BKTD, allowed_BTS)
                                 : AttendRuns(qkv.q_BNTD, qkv.k_BKTD, qkv.v_BKTD, runs, blockwise);
  at::Tensor h = x + Linear(attn, w.o_weight, w.o_bias, w.o_packed);
  return h + Mlp(c, w, h, trace);
}

}  // namespace

AttentionLayout AttentionLayout::RightPadded(const std::vector<int64_t>& lengths, int64_t T) {
  const int64_t B = static_cast<int64_t>(lengths.size());
  at::Tensor t = at::arange(T, at::kLong).unsqueeze(0).expand({B, T});
  at::Tensor len = at::tensor(lengths, at::kLong).unsqueeze(1);
  AttentionLayout layout;
  layout.position_ids_BT = t.contiguous();
  layout.segment_ids_BT = at::where(t < len, at::zeros({}, at::kLong), at::full({}, -1, at::kLong));
  return layout;
}

AttentionLayout AttentionLayout::Packed(const std::vector<std::vector<int64_t>>& doc_lengths, int64_t T) {
  const int64_t B = static_cast<int64_t>(doc_lengths.size());
  std::vector<int64_t> pos(static_cast<size_t>(B * T), 0), seg(static_cast<size_t>(B * T), -1);
  for (int64_t b = 0; b < B; ++b) {
    int64_t t = 0;
    for (size_t d = 0; d < doc_lengths[static_cast<size_t>(b)].size(); ++d) {
      for (int64_t i = 0; i < doc_lengths[static_cast<size_t>(b)][d] && t < T; ++i, ++t) {
        pos[static_cast<size_t>(b * T + t)] = i;
        seg[static_cast<size_t>(b * T + t)] = static_cast<int64_t>(d);
      }
    }
    // Padding: distinct negative segment, positions counting on (unused).
    for (int64_t i = 0; t < T; ++t, ++i) pos[static_cast<size_t>(b * T + t)] = i;
  }
  AttentionLayout layout;
  layout.position_ids_BT = at::tensor(pos, at::kLong).view({B, T});
  layout.segment_ids_BT = at::tensor(seg, at::kLong).view({B, T});
  return layout;
}

Decoder::Decoder(ModelConfig config, DecoderOptions options) : config_(std::move(config)), options_(options) {
  std::vector<float> inv = RopeInverseFrequencies(config_);
  inv_freq_ = at::tensor(inv, at::kFloat).to(options_.device);
}

absl::StatusOr<std::unique_ptr<Decoder>> Decoder::Load(const std::string& model_dir, const DecoderOptions& options) {
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(model_dir));
  try {
    ASSIGN_OR_RETURN(auto weights, LoadHfWeights(model_dir, config, options.dtype, options.device));
    return FromHfWeights(config, weights, options);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(model_dir, ": loading weights failed: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<std::unique_ptr<Decoder>> Decoder::FromHfWeights(const ModelConfig& config,
                                                                const std::map<std::string, at::Tensor>& weights,
                                                                const DecoderOptions& options) {
  RETURN_IF_ERROR(config.Validate());
  const auto has = [&weights](const std::string& name) { return weights.count(name) > 0; };
  for (const WeightSpec& spec : ExpectedWeightsIn(config, has)) {
    auto it = weights.find(spec.name);
    if (it == weights.end()) {
      return absl::NotFoundError(absl::StrCat("missing tensor \"", spec.name, "\""));
    }
    if (it->second.sizes().vec() != spec.shape) {
      return absl::InvalidArgumentError(absl::StrCat("tensor \"", spec.name, "\" has shape ",
                                                     ShapeToString(it->second.sizes().vec()), ", expected ",
                                                     ShapeToString(spec.shape)));
    }
  }
  if (options.cpu_bf16_weights &&
      (!options.device.is_cpu() || options.dtype != at::kFloat || !options.batch_invariant)) {
    return absl::InvalidArgumentError(
        "bf16 CPU weights need an fp32 decoder on CPU with batch-invariant kernels (an inference decoder)");
  }
  std::unique_ptr<Decoder> d(new Decoder(config, options));
  auto get = [&](const std::string& name) { return weights.at(name).to(options.device, options.dtype).contiguous(); };
  auto maybe = [&](const std::string& name) {
    auto it = weights.find(name);
    return it == weights.end() ? at::Tensor() : it->second.to(options.device, options.dtype).contiguous();
  };
  d->embed_ = get("model.embed_tokens.weight");
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    auto n = [&](const char* suffix) { return LayerWeightName(l, suffix); };
    DecoderLayerWeights w;
    w.index = l;
    w.input_norm = get(n("input_layernorm.weight"));
    w.qkv_weight = at::cat(
        {get(n("self_attn.q_proj.weight")), get(n("self_attn.k_proj.weight")), get(n("self_attn.v_proj.weight"))}, 0);
    if (config.qkv_bias()) {
      w.qkv_bias = at::cat(
          {get(n("self_attn.q_proj.bias")), get(n("self_attn.k_proj.bias")), get(n("self_attn.v_proj.bias"))}, 0);
    }
    w.o_weight = get(n("self_attn.o_proj.weight"));
    if (config.o_bias()) w.o_bias = get(n("self_attn.o_proj.bias"));
    if (config.qk_norm()) {
      w.q_norm = get(n("self_attn.q_norm.weight"));
      w.k_norm = get(n("self_attn.k_norm.weight"));
    }
    w.post_norm = get(n("post_attention_layernorm.weight"));
    if (config.IsMoeLayer(l)) {
      w.router_weight = get(n("mlp.gate.weight"));
      if (has(n("mlp.experts.gate_up_proj"))) {
        w.experts_gate_up = get(n("mlp.experts.gate_up_proj"));
        w.experts_down = get(n("mlp.experts.down_proj"));
      } else {
        std::vector<at::Tensor> gate_up, down;
        for (int64_t e = 0; e < config.moe.num_experts; ++e) {
          gate_up.push_back(at::cat(
              {get(ExpertWeightName(l, e, "gate_proj.weight")), get(ExpertWeightName(l, e, "up_proj.weight"))}, 0));
          down.push_back(get(ExpertWeightName(l, e, "down_proj.weight")));
        }
        w.experts_gate_up = at::stack(gate_up);
        w.experts_down = at::stack(down);
      }
    } else {
      w.gate_up_weight = at::cat({get(n("mlp.gate_proj.weight")), get(n("mlp.up_proj.weight"))}, 0);
      w.down_weight = get(n("mlp.down_proj.weight"));
    }
    d->layers_.push_back(std::move(w));
  }
  d->final_norm_ = get("model.norm.weight");
  d->lm_head_ = config.tie_word_embeddings ? d->embed_ : maybe("lm_head.weight");
  if (options.cpu_bf16_weights) {
    // Round to nearest even, once; the kernels widen exactly.
    auto bf16 = [](at::Tensor& t) {
      if (t.defined()) t = t.to(at::kBFloat16).contiguous();
    };
    for (DecoderLayerWeights& w : d->layers_) {
      bf16(w.qkv_weight);
      bf16(w.o_weight);
      bf16(w.gate_up_weight);
      bf16(w.down_weight);
      bf16(w.router_weight);  // widened: the router's arithmetic stays fp32
      bf16(w.experts_gate_up);
      bf16(w.experts_down);
    }
    bf16(d->embed_);
    if (config.tie_word_embeddings) {
      d->lm_head_ = d->embed_;
    } else {
      bf16(d->lm_head_);
    }
  }
  if (options.batch_invariant && options.device.is_cpu() && options.dtype == at::kFloat) {
    const int64_t I = config.intermediate_size, Ie = config.moe.moe_intermediate_size;
    // Each expert's matrix packed on its own, the experts stacked.
    auto pack_experts = [](const at::Tensor& m, int64_t row0, int64_t rows) {
      std::vector<at::Tensor> packed;
      for (int64_t e = 0; e < m.size(0); ++e) packed.push_back(Pack(m[e].narrow(0, row0, rows).contiguous()));
      return at::stack(packed);
    };
    for (DecoderLayerWeights& w : d->layers_) {
      w.qkv_packed = Pack(w.qkv_weight);
      w.o_packed = Pack(w.o_weight);
      if (w.is_moe()) {
        w.router_packed = Pack(w.router_weight);
        w.experts_gate_packed = pack_experts(w.experts_gate_up, 0, Ie);
        w.experts_up_packed = pack_experts(w.experts_gate_up, Ie, Ie);
        w.experts_down_packed = pack_experts(w.experts_down, 0, config.hidden_size);
        continue;
      }
      w.gate_packed = Pack(w.gate_up_weight.narrow(0, 0, I).contiguous());
      w.up_packed = Pack(w.gate_up_weight.narrow(0, I, I).contiguous());
      w.down_packed = Pack(w.down_weight);
    }
    d->lm_head_packed_ = Pack(d->lm_head_);
  }
  return d;
}

absl::StatusOr<std::unique_ptr<Decoder>> Decoder::RandomInit(const ModelConfig& config, uint64_t seed, double init_std,
                                                             const DecoderOptions& options) {
  RETURN_IF_ERROR(config.Validate());
  if (!(init_std > 0) || !std::isfinite(init_std)) {
    return absl::InvalidArgumentError(absl::StrCat("init_std must be positive, got ", init_std));
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::map<std::string, at::Tensor> weights;
  for (const WeightSpec& spec : ExpectedWeights(config)) {
    at::Tensor t = at::randn(spec.shape, gen, at::TensorOptions().dtype(at::kFloat));
    const bool is_norm = spec.name.find("norm") != std::string::npos;
    weights[spec.name] = is_norm ? 1.0 + 0.1 * t : init_std * t;
  }
  return FromHfWeights(config, weights, options);
}

at::Tensor Decoder::Embed(const at::Tensor& ids_BT) const {
  at::Tensor x = at::embedding(embed_, ids_BT.to(options_.device));
  return x.scalar_type() == options_.dtype ? x : x.to(options_.dtype);  // bf16 CPU weights
}

at::Tensor Decoder::ForwardHidden(const at::Tensor& ids_BT, const AttentionLayout& layout,
                                  const ActivationCheckpointing& checkpointing, LayerRunner* runner,
                                  RouterTrace* trace) const {
  CHECK_EQ(ids_BT.dim(), 2) << "ids must be [B, T]";
  const int64_t B = ids_BT.size(0), T = ids_BT.size(1);
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(options_.device);
  at::Tensor pos = layout.position_ids_BT.defined() ? layout.position_ids_BT.to(options_.device)
                                                    : at::arange(T, long_opts).unsqueeze(0).expand({B, T});
  at::Tensor seg =
      layout.segment_ids_BT.defined() ? layout.segment_ids_BT.to(options_.device) : at::zeros({B, T}, long_opts);
  at::Tensor x = Embed(ids_BT);
  const bool kernels = runner == nullptr && trace == nullptr && UseCpuKernels(x);
  const RopeTables rope = MakeRope(pos, inv_freq_, options_.dtype, kernels);
  std::vector<int64_t> key_begin, key_end;
  if (kernels && KeyRangesFromSegments(seg, &key_begin, &key_end)) {
    const int64_t N = config_.num_attention_heads, K = config_.num_key_value_heads;
    const int64_t D = config_.head_dim, W = (N + 2 * K) * D;
    for (const DecoderLayerWeights& w : layers_) {
      at::Tensor qkv = ProjectFusedQKV(config_, w, RmsNorm(x, w.input_norm, config_.rms_norm_eps), rope);
      const float* p = qkv.data_ptr<float>();
      at::Tensor attn = at::empty({B, T, N * D}, x.options());
      cpu::RangeAttention({p, T * W, D, W}, {p + N * D, T * W, D, W}, {p + (N + K) * D, T * W, D, W}, key_begin.data(),
                          key_end.data(), attn.data_ptr<float>(), B, T, N, K, D);
      x = x + Linear(attn, w.o_weight, w.o_bias, w.o_packed);
      x = x + Mlp(config_, w, x);
    }
    return RmsNorm(x, final_norm_, config_.rms_norm_eps);
  }
  // ATen path (training, bf16, CUDA): attention document by document when
  // each document is one run of its row (packing and padding both are),
  // else an explicit [B, T, T] visibility mask.
  const Runs runs = options_.attention_by_document ? SegmentRuns(seg) : Runs{};
  at::Tensor allowed_BTS;
  if (runs.empty()) {
    at::Tensor causal_TT = at::ones({T, T}, long_opts.dtype(at::kBool)).tril();
    allowed_BTS = causal_TT.unsqueeze(0) & (seg.unsqueeze(2) == seg.unsqueeze(1));
  }
  auto shared_runs = std::make_shared<const Runs>(runs);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const DecoderLayerWeights* w = &layers_[i];
    const bool checkpoint = checkpointing.Checkpoints(static_cast<int64_t>(i));
    if (runner == nullptr && !checkpoint) {
      x = AtenLayer(config_, *w, x, rope, runs, allowed_BTS, options_.blockwise_attention, trace);
      continue;
    }
    // Captured by value: backward may run the layer again after this returns.
    const ModelConfig* c = &config_;
    const bool blockwise = options_.blockwise_attention;
    LayerFn layer = [c, w, rope, shared_runs, allowed_BTS, blockwise, trace](const at::Tensor& in) {
      return AtenLayer(*c, *w, in, rope, *shared_runs, allowed_BTS, blockwise, trace);
    };
    x = runner != nullptr ? runner->RunLayer(static_cast<int64_t>(i), layer, x, checkpoint)
                          : CheckpointedLayer(layer, x);
  }
  return RmsNorm(x, final_norm_, config_.rms_norm_eps);
}

at::Tensor Decoder::Logits(const at::Tensor& hidden) const {
  return Linear(hidden, lm_head_, at::Tensor(), lm_head_packed_).to(at::kFloat);
}

at::Tensor Decoder::Forward(const at::Tensor& ids_BT, const AttentionLayout& layout) const {
  return Logits(ForwardHidden(ids_BT, layout));
}

std::unique_ptr<KVCache> Decoder::NewCache(int64_t slots, int64_t initial_capacity) const {
  KVCacheOptions o;
  o.max_seqs = slots;
  o.num_blocks = slots * std::max<int64_t>((initial_capacity + o.block_size - 1) / o.block_size, 1);
  return NewCache(o);
}

std::unique_ptr<KVCache> Decoder::NewCache(const KVCacheOptions& options) const {
  return std::make_unique<KVCache>(config_, options, options_.dtype, options_.device);
}

at::Tensor Decoder::Extend(KVCache& cache, const at::Tensor& ids_BT, const std::vector<int64_t>& num_new) const {
  CHECK_EQ(ids_BT.dim(), 2);
  const int64_t B = ids_BT.size(0);
  CHECK_EQ(B, cache.max_seqs());
  std::vector<int64_t> seqs(static_cast<size_t>(B));
  int64_t blocks_needed = 0;
  for (int64_t b = 0; b < B; ++b) {
    seqs[b] = b;
    blocks_needed += std::max<int64_t>(
        cache.BlocksFor(cache.length(b) + num_new[b]) - static_cast<int64_t>(cache.block_table(b).size()), 0);
  }
  if (blocks_needed > cache.free_blocks()) {
    cache.GrowPool(std::max(cache.num_blocks() * 2, cache.used_blocks() + blocks_needed));
  }
  for (int64_t b = 0; b < B; ++b) CHECK(cache.Reserve(b, cache.length(b) + num_new[b]));
  return Extend(cache, seqs, ids_BT, num_new);
}

at::Tensor Decoder::Extend(KVCache& cache, const std::vector<int64_t>& seqs, const at::Tensor& ids_BT,
                           const std::vector<int64_t>& num_new) const {
  CHECK_EQ(ids_BT.dim(), 2);
  const int64_t B = ids_BT.size(0), T = ids_BT.size(1);
  CHECK_EQ(static_cast<int64_t>(seqs.size()), B);
  CHECK_EQ(static_cast<int64_t>(num_new.size()), B);
  const int64_t bs = cache.block_size();
  int64_t S = 1, max_blocks = 1;
  std::vector<int64_t> starts(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    CHECK(num_new[b] >= 0 && num_new[b] <= T) << "num_new[" << b << "] = " << num_new[b];
    starts[b] = cache.length(seqs[b]);
    CHECK_LE(starts[b] + num_new[b], cache.reserved(seqs[b]))
        << "sequence " << seqs[b] << " has not reserved room for " << num_new[b] << " tokens";
    S = std::max(S, starts[b] + num_new[b]);
    max_blocks = std::max<int64_t>(max_blocks, static_cast<int64_t>(cache.block_table(seqs[b]).size()));
  }
  // Block tables as one [B, max_blocks] array (unused entries point at block
  // 0; the key ranges never reach them).
  std::vector<int32_t> tables(static_cast<size_t>(B * max_blocks), 0);
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<int32_t>& t = cache.block_table(seqs[b]);
    std::copy(t.begin(), t.end(), tables.begin() + b * max_blocks);
  }
  at::Tensor x = Embed(ids_BT);
  if (UseCpuKernels(x)) return ExtendKernels(cache, seqs, x, starts, num_new, tables, max_blocks);

  // ATen path (CUDA, bf16): scatter new keys/values into their blocks, then
  // gather each row's blocks into a contiguous [B, K, S, D] view.
  std::vector<int64_t> write_block, write_offset, write_flat;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < num_new[b]; ++t) {
      const int64_t pos = starts[b] + t;
      write_block.push_back(tables[b * max_blocks + pos / bs]);
      write_offset.push_back(pos % bs);
      write_flat.push_back(b * T + t);
    }
  }
  const auto dev = options_.device;
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(dev);
  at::Tensor start_B = at::tensor(starts, at::kLong).to(dev);
  at::Tensor count_B = at::tensor(num_new, at::kLong).to(dev);
  at::Tensor pos_BT = start_B.unsqueeze(1) + at::arange(T, long_opts).unsqueeze(0);
  at::Tensor j_S = at::arange(S, long_opts);
  // Query t of row b sees key j iff j <= start + t and j < start + num_new.
  at::Tensor allowed_BTS =
      (j_S.view({1, 1, S}) <= pos_BT.unsqueeze(2)) & (j_S.view({1, 1, S}) < (start_B + count_B).view({B, 1, 1}));
  at::Tensor blk_idx = at::tensor(write_block, at::kLong).to(dev);
  at::Tensor off_idx = at::tensor(write_offset, at::kLong).to(dev);
  at::Tensor flat_idx = at::tensor(write_flat, at::kLong).to(dev);
  at::Tensor table_idx = at::tensor(tables, at::kInt).to(at::kLong).to(dev);
  const RopeTables rope = MakeRope(pos_BT, inv_freq_, options_.dtype, /*kernels=*/false);
  const int64_t K = config_.num_key_value_heads, D = config_.head_dim;
  auto gather = [&](const at::Tensor& pool) {
    // [B * max_blocks, K, bs, D] -> [B, K, max_blocks * bs, D] -> first S.
    return pool.index_select(0, table_idx)
        .view({B, max_blocks, K, bs, D})
        .permute({0, 2, 1, 3, 4})
        .reshape({B, K, max_blocks * bs, D})
        .narrow(2, 0, S);
  };
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DecoderLayerWeights& w = layers_[l];
    QKV qkv = ProjectQKV(config_, w, RmsNorm(x, w.input_norm, config_.rms_norm_eps), rope);
    if (!write_flat.empty()) {
      at::Tensor k_rows = qkv.k_BKTD.transpose(1, 2).reshape({B * T, K, D}).index_select(0, flat_idx);
      at::Tensor v_rows = qkv.v_BKTD.transpose(1, 2).reshape({B * T, K, D}).index_select(0, flat_idx);
      c10::List<c10::optional<at::Tensor>> index{blk_idx, c10::nullopt, off_idx};
      cache.keys(static_cast<int64_t>(l)).index_put_(index, k_rows);
      cache.values(static_cast<int64_t>(l)).index_put_(index, v_rows);
    }
    at::Tensor attn = Attend(qkv.q_BNTD, gather(cache.keys(static_cast<int64_t>(l))),
                             gather(cache.values(static_cast<int64_t>(l))), allowed_BTS);
    x = x + Linear(attn, w.o_weight, w.o_bias, w.o_packed);
    x = x + Mlp(config_, w, x);
  }
  cache.Advance(seqs, num_new);
  // Only the last new token of each row needs logits.
  std::vector<int64_t> last(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) last[b] = std::max<int64_t>(num_new[b] - 1, 0);
  at::Tensor last_idx = at::tensor(last, at::kLong).to(dev);
  at::Tensor h_BH = x.index({at::arange(B, long_opts), last_idx});
  return Logits(RmsNorm(h_BH, final_norm_, config_.rms_norm_eps));
}

at::Tensor Decoder::ExtendKernels(KVCache& cache, const std::vector<int64_t>& seqs, at::Tensor x,
                                  const std::vector<int64_t>& starts, const std::vector<int64_t>& num_new,
                                  const std::vector<int32_t>& tables, int64_t max_blocks) const {
  // CPU fp32 without autograd: everything but the matmuls runs in the fused
  // kernels, new keys/values are copied straight into their blocks, and
  // attention reads the blocks in place.
  const int64_t B = x.size(0), T = x.size(1);
  const int64_t N = config_.num_attention_heads, K = config_.num_key_value_heads, D = config_.head_dim;
  const int64_t W = (N + 2 * K) * D, bs = cache.block_size();
  if (lm_head_packed_.defined()) {
    // Batch-invariant inference: one parallel region for the whole forward,
    // over the real tokens only, packed (a prompt's padding costs nothing).
    std::vector<int64_t> row_pos, logit_rows, src_rows;
    std::vector<int32_t> row_tables;
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < num_new[b]; ++t) {
        row_pos.push_back(starts[b] + t);
        src_rows.push_back(b * T + t);
        row_tables.insert(row_tables.end(), tables.begin() + b * max_blocks, tables.begin() + (b + 1) * max_blocks);
      }
      // A row with no new token gets some other row's logits: finite, unused.
      logit_rows.push_back(std::max<int64_t>(static_cast<int64_t>(src_rows.size()) - 1, 0));
    }
    const int64_t R = static_cast<int64_t>(src_rows.size());
    if (R > 0) {
      cpu::DecodeModel m;
      m.hidden = config_.hidden_size, m.heads = N, m.kv_heads = K, m.head_dim = D;
      m.intermediate = config_.intermediate_size, m.vocab = config_.vocab_size;
      m.eps = static_cast<float>(config_.rms_norm_eps);
      m.inv_freq = inv_freq_.data_ptr<float>();
      auto ptr = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
      const int64_t H = config_.hidden_size, I = config_.intermediate_size;
      for (size_t l = 0; l < layers_.size(); ++l) {
        const DecoderLayerWeights& w = layers_[l];
        cpu::DecodeLayer layer;
        layer.input_norm = ptr(w.input_norm);
        layer.qkv_weight = PackedView(w.qkv_packed, W, H);
        layer.qkv_bias = ptr(w.qkv_bias);
        layer.o_weight = PackedView(w.o_packed, H, N * D);
        layer.o_bias = ptr(w.o_bias);
        layer.q_norm = ptr(w.q_norm);
        layer.k_norm = ptr(w.k_norm);
        layer.post_norm = ptr(w.post_norm);
        if (w.is_moe()) {
          const int64_t E = config_.moe.num_experts, Ie = config_.moe.moe_intermediate_size;
          layer.experts = E;
          layer.top_k = config_.moe.num_experts_per_tok;
          layer.expert_intermediate = Ie;
          layer.norm_topk_prob = config_.moe.norm_topk_prob;
          layer.router = PackedView(w.router_packed, E, H);
          for (int64_t e = 0; e < E; ++e) {
            layer.expert_gate.push_back(PackedView(w.experts_gate_packed[e], Ie, H));
            layer.expert_up.push_back(PackedView(w.experts_up_packed[e], Ie, H));
            layer.expert_down.push_back(PackedView(w.experts_down_packed[e], H, Ie));
          }
        } else {
          layer.gate_weight = PackedView(w.gate_packed, I, H);
          layer.up_weight = PackedView(w.up_packed, I, H);
          layer.down_weight = PackedView(w.down_packed, H, I);
        }
        layer.k_cache = cache.keys(static_cast<int64_t>(l)).data_ptr<float>();
        layer.v_cache = cache.values(static_cast<int64_t>(l)).data_ptr<float>();
        m.layers.push_back(std::move(layer));
      }
      m.final_norm = ptr(final_norm_);
      m.lm_head = PackedView(lm_head_packed_, config_.vocab_size, H);
      const cpu::DecodeBatch batch{R, row_pos.data(), row_tables.data(), max_blocks, bs, logit_rows.data(), B};
      at::Tensor x_RH = R == B * T
                            ? x.reshape({R, config_.hidden_size}).contiguous()
                            : x.reshape({B * T, config_.hidden_size}).index_select(0, at::tensor(src_rows, at::kLong));
      at::Tensor logits = at::empty({B, config_.vocab_size}, x.options());
      cpu::DecodeStep(m, batch, x_RH.data_ptr<float>(), logits.data_ptr<float>(), at::get_num_threads(),
                      options_.decode_profile);
      cache.Advance(seqs, num_new);
      return logits;
    }
  }
  RopeTables rope;
  std::vector<int64_t> pos(static_cast<size_t>(B * T)), key_begin(pos.size(), 0), key_end(pos.size());
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      pos[b * T + t] = starts[b] + t;
      // Padded queries (t >= num_new) see the real keys; their output is unused.
      key_end[b * T + t] = starts[b] + std::min(t + 1, num_new[b]);
    }
  }
  rope.pos_BT = at::tensor(pos, at::kLong).view({B, T});
  rope.inv_freq = inv_freq_.data_ptr<float>();
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DecoderLayerWeights& w = layers_[l];
    at::Tensor qkv = ProjectFusedQKV(config_, w, RmsNorm(x, w.input_norm, config_.rms_norm_eps), rope);
    const float* src = qkv.data_ptr<float>();
    float* kc = cache.keys(static_cast<int64_t>(l)).data_ptr<float>();
    float* vc = cache.values(static_cast<int64_t>(l)).data_ptr<float>();
    // Pool layout [blocks, K, bs, D]: a block is K*bs*D floats.
    cpu::HeadsView kv_view{nullptr, K * bs * D, bs * D, D, tables.data(), max_blocks, bs};
    cpu::HeadsView k_view = kv_view, v_view = kv_view;
    k_view.data = kc;
    v_view.data = vc;
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < num_new[b]; ++t) {
        const float* row = src + (b * T + t) * W;
        for (int64_t kv = 0; kv < K; ++kv) {
          std::memcpy(const_cast<float*>(k_view.Row(b, kv, starts[b] + t)), row + (N + kv) * D, sizeof(float) * D);
          std::memcpy(const_cast<float*>(v_view.Row(b, kv, starts[b] + t)), row + (N + K + kv) * D, sizeof(float) * D);
        }
      }
    }
    at::Tensor attn = at::empty({B, T, N * D}, x.options());
    cpu::RangeAttention({src, T * W, D, W}, k_view, v_view, key_begin.data(), key_end.data(), attn.data_ptr<float>(), B,
                        T, N, K, D);
    x = x + Linear(attn, w.o_weight, w.o_bias, w.o_packed);
    x = x + Mlp(config_, w, x);
  }
  cache.Advance(seqs, num_new);
  std::vector<int64_t> last(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) last[b] = b * T + std::max<int64_t>(num_new[b] - 1, 0);
  at::Tensor h_BH = x.view({B * T, -1}).index_select(0, at::tensor(last, at::kLong)).contiguous();
  return Logits(RmsNorm(h_BH, final_norm_, config_.rms_norm_eps));
}

NamedTensors Decoder::HfNamedTensors(ExpertLayout layout) const {
  NamedTensors out;
  out.emplace_back("model.embed_tokens.weight", embed_);
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    NamedTensors layer = HfNamedTensorsOfLayer(l, layout);
    out.insert(out.end(), layer.begin(), layer.end());
  }
  out.emplace_back("model.norm.weight", final_norm_);
  if (!config_.tie_word_embeddings) out.emplace_back("lm_head.weight", lm_head_);
  return out;
}

NamedTensors Decoder::HfNamedTensorsOfRoot() const {
  NamedTensors out;
  out.emplace_back("model.embed_tokens.weight", embed_);
  out.emplace_back("model.norm.weight", final_norm_);
  if (!config_.tie_word_embeddings) out.emplace_back("lm_head.weight", lm_head_);
  return out;
}

NamedTensors Decoder::HfNamedTensorsOfLayer(int64_t l, ExpertLayout layout) const {
  const ModelConfig& c = config_;
  const int64_t qd = c.q_dim(), kvd = c.kv_dim(), I = c.intermediate_size;
  NamedTensors out;
  const DecoderLayerWeights& w = layers_[static_cast<size_t>(l)];
  auto n = [&](const char* suffix) { return LayerWeightName(l, suffix); };
  out.emplace_back(n("input_layernorm.weight"), w.input_norm);
  out.emplace_back(n("self_attn.q_proj.weight"), w.qkv_weight.narrow(0, 0, qd));
  out.emplace_back(n("self_attn.k_proj.weight"), w.qkv_weight.narrow(0, qd, kvd));
  out.emplace_back(n("self_attn.v_proj.weight"), w.qkv_weight.narrow(0, qd + kvd, kvd));
  if (c.qkv_bias()) {
    out.emplace_back(n("self_attn.q_proj.bias"), w.qkv_bias.narrow(0, 0, qd));
    out.emplace_back(n("self_attn.k_proj.bias"), w.qkv_bias.narrow(0, qd, kvd));
    out.emplace_back(n("self_attn.v_proj.bias"), w.qkv_bias.narrow(0, qd + kvd, kvd));
  }
  out.emplace_back(n("self_attn.o_proj.weight"), w.o_weight);
  if (c.o_bias()) out.emplace_back(n("self_attn.o_proj.bias"), w.o_bias);
  if (c.qk_norm()) {
    out.emplace_back(n("self_attn.q_norm.weight"), w.q_norm);
    out.emplace_back(n("self_attn.k_norm.weight"), w.k_norm);
  }
  out.emplace_back(n("post_attention_layernorm.weight"), w.post_norm);
  if (w.is_moe()) {
    out.emplace_back(n("mlp.gate.weight"), w.router_weight);
    if (layout == ExpertLayout::kFused) {
      out.emplace_back(n("mlp.experts.gate_up_proj"), w.experts_gate_up);
      out.emplace_back(n("mlp.experts.down_proj"), w.experts_down);
      return out;
    }
    const int64_t Ie = c.moe.moe_intermediate_size;
    for (int64_t e = 0; e < c.moe.num_experts; ++e) {
      out.emplace_back(ExpertWeightName(l, e, "gate_proj.weight"), w.experts_gate_up[e].narrow(0, 0, Ie));
      out.emplace_back(ExpertWeightName(l, e, "up_proj.weight"), w.experts_gate_up[e].narrow(0, Ie, Ie));
      out.emplace_back(ExpertWeightName(l, e, "down_proj.weight"), w.experts_down[e]);
    }
    return out;
  }
  out.emplace_back(n("mlp.gate_proj.weight"), w.gate_up_weight.narrow(0, 0, I));
  out.emplace_back(n("mlp.up_proj.weight"), w.gate_up_weight.narrow(0, I, I));
  out.emplace_back(n("mlp.down_proj.weight"), w.down_weight);
  return out;
}

NamedTensors Decoder::Parameters() const {
  NamedTensors out;
  out.emplace_back("embed_tokens", embed_);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DecoderLayerWeights& w = layers_[l];
    auto n = [&](const char* s) { return absl::StrCat("layers.", l, ".", s); };
    out.emplace_back(n("input_norm"), w.input_norm);
    out.emplace_back(n("qkv_weight"), w.qkv_weight);
    if (w.qkv_bias.defined()) out.emplace_back(n("qkv_bias"), w.qkv_bias);
    out.emplace_back(n("o_weight"), w.o_weight);
    if (w.o_bias.defined()) out.emplace_back(n("o_bias"), w.o_bias);
    if (w.q_norm.defined()) out.emplace_back(n("q_norm"), w.q_norm);
    if (w.k_norm.defined()) out.emplace_back(n("k_norm"), w.k_norm);
    out.emplace_back(n("post_norm"), w.post_norm);
    if (w.is_moe()) {
      out.emplace_back(n("router_weight"), w.router_weight);
      out.emplace_back(n("experts_gate_up"), w.experts_gate_up);
      out.emplace_back(n("experts_down"), w.experts_down);
      continue;
    }
    out.emplace_back(n("gate_up_weight"), w.gate_up_weight);
    out.emplace_back(n("down_weight"), w.down_weight);
  }
  out.emplace_back("final_norm", final_norm_);
  if (!config_.tie_word_embeddings) out.emplace_back("lm_head", lm_head_);
  return out;
}

}  // namespace ssd
