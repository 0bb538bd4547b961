// Fused fp32 CPU kernels for the inference path (no autograd).
//
// At decode sizes each ATen op costs more in dispatch than in arithmetic, so
// the decoder replaces its small element-wise chains (norms, RoPE, SiLU-gate,
// single-query attention) with these loops when it runs on CPU in fp32 with
// gradients off. Each kernel computes the same formula as the ATen path;
// results differ only by float rounding order (tests bound it at 1e-5).
//
// Parallelised with at::parallel_for over independent rows; all pointers are
// to contiguous row-major buffers; no allocation.
#ifndef SSD_COMMON_MODEL_CPU_KERNELS_H_
#define SSD_COMMON_MODEL_CPU_KERNELS_H_

#include <cstdint>

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
void QkNormRope(float* qkv, int64_t rows, int64_t N, int64_t K, int64_t D, const float* q_norm,
                const float* k_norm, float eps, const int64_t* pos, const float* inv_freq);

// out[r, i] = silu(gu[r, i]) * gu[r, I + i] for gu[rows, 2I].
void SiluGate(const float* gu, float* out, int64_t rows, int64_t I);

// y[M, out] = x[M, in] W[out, in]^T (+ b) for few rows M (decode batches).
// OpenBLAS sgemm re-packs the whole weight matrix on every call, which for a
// large lm_head at M <= 32 costs more than the arithmetic; this kernel
// streams W once, 4 rows at a time, against all rows of x. Uses AVX2+FMA and
// returns false (doing nothing) where the CPU lacks them.
bool SkinnyMatmul(const float* x, const float* W, const float* b, float* y, int64_t M,
                  int64_t in, int64_t out);

// One query per sequence. q holds B rows of N * D floats, `q_stride` floats
// apart (so it can point into fused qkv rows); k_cache/v_cache[B, K, cap, D]; sequence
// b attends to keys [0, len[b]). Query head n reads kv head n / (N / K).
// out[B, N * D].
void DecodeAttention(const float* q, int64_t q_stride, const float* k_cache,
                     const float* v_cache, const int64_t* len, float* out, int64_t B, int64_t N,
                     int64_t K, int64_t D, int64_t cap);

}  // namespace cpu
}  // namespace ssd

#endif  // SSD_COMMON_MODEL_CPU_KERNELS_H_
