// Fused fp32 CPU kernels for the inference path (no autograd).
//
// At decode sizes each ATen op costs more in dispatch than in arithmetic, so
// the decoder replaces its small element-wise chains (norms, RoPE, SiLU-gate,
// single-query attention) with these loops when it runs on CPU in fp32 with
// gradients off. Each kernel computes the same formula as the ATen path;
// results differ only by float rounding order (tests bound it at 1e-5).
//
// Parallelised with at::parallel_for over independent rows; the arithmetic
// of each row is cpu_rows.h's, so these agree bitwise with the one-region
// decode step (cpu_decode_step.h). All pointers are to contiguous row-major
// buffers.
#ifndef SSD_COMMON_MODEL_CPU_KERNELS_H_
#define SSD_COMMON_MODEL_CPU_KERNELS_H_

#include <cstdint>

#include "common/model/cpu_rows.h"

namespace ssd {
namespace cpu {

// out[r, :] = w * x[r, :] / sqrt(mean(x[r, :]^2) + eps). `out` may alias `x`.
void RmsNorm(const float* x, const float* w, float* out, int64_t rows, int64_t dim, float eps);

// In place on fused projections qkv[rows, (N + 2K) * D] (q heads, then k
// heads, then v heads): optional per-head RMSNorm of q and k (qwen3; pass
// nullptr to skip) followed by rotate-half RoPE of q and k at position
// pos[row]: angle_i = pos * inv_freq[i], for i < D/2,
//   x[i]       <- x[i] cos - x[i + D/2] sin
//   x[i + D/2] <- x[i + D/2] cos + x[i] sin
void QkNormRope(float* qkv, int64_t rows, int64_t N, int64_t K, int64_t D, const float* q_norm, const float* k_norm,
                float eps, const int64_t* pos, const float* inv_freq);

// out[r, i] = silu(gu[r, i]) * gu[r, I + i] for gu[rows, 2I].
void SiluGate(const float* gu, float* out, int64_t rows, int64_t I);

// y[M, out] = x[M, in] W[out, in]^T (+ b) for few rows M (decode batches).
// OpenBLAS sgemm re-packs the whole weight matrix on every call, which for a
// large lm_head at M <= 32 costs more than the arithmetic; this kernel
// streams W once against all rows of x (cpu::SkinnyRange). Uses AVX2+FMA
// (and AVX-512 where present, with the same results) and returns false
// (doing nothing) where the CPU lacks them.
bool SkinnyMatmul(const float* x, const float* W, const float* b, float* y, int64_t M, int64_t in, int64_t out);

// Multi-query attention for T queries per sequence with per-query key
// ranges: query (b, i) of head n sees keys [key_begin[b*T+i],
// key_end[b*T+i]) of kv head n / (N / K) (an empty range yields zeros). Keys
// and values may live in fused qkv rows or in a KV cache, as described by
// the views. out[B, T, N * D]. Softmax is computed exactly in one pass with a
// running maximum (no [T, S] score matrix, no mask tensor).
void RangeAttention(HeadsView q, HeadsView k, HeadsView v, const int64_t* key_begin, const int64_t* key_end, float* out,
                    int64_t B, int64_t T, int64_t N, int64_t K, int64_t D);

}  // namespace cpu
}  // namespace ssd

#endif  // SSD_COMMON_MODEL_CPU_KERNELS_H_
