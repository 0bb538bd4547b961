#include "common/model/cpu_kernels.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace ssd {
namespace cpu {
namespace {

// Eight independent accumulators let the compiler vectorise and hide latency.
inline float Dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void NormRow(float* x, const float* w, int64_t dim, float eps) {
  float ss = Dot(x, x, dim);
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
  for (int64_t i = 0; i < dim; ++i) x[i] = w[i] * (x[i] * inv);
}

inline void RopeRow(float* x, const float* cos_h, const float* sin_h, int64_t half) {
  for (int64_t i = 0; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    x[i] = a * cos_h[i] - b * sin_h[i];
    x[i + half] = b * cos_h[i] + a * sin_h[i];
  }
}

}  // namespace

void RmsNorm(const float* x, const float* w, float* out, int64_t rows, int64_t dim, float eps) {
  at::parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(dim, 1)),
                   [&](int64_t begin, int64_t end) {
                     for (int64_t r = begin; r < end; ++r) {
                       const float* xr = x + r * dim;
                       float* o = out + r * dim;
                       const float inv = 1.0f / std::sqrt(Dot(xr, xr, dim) / static_cast<float>(dim) + eps);
                       for (int64_t i = 0; i < dim; ++i) o[i] = w[i] * (xr[i] * inv);
                     }
                   });
}

void QkNormRope(float* qkv, int64_t rows, int64_t N, int64_t K, int64_t D, const float* q_norm,
                const float* k_norm, float eps, const int64_t* pos, const float* inv_freq) {
  const int64_t width = (N + 2 * K) * D;
  const int64_t half = D / 2;
  at::parallel_for(0, rows, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> cos_h(static_cast<size_t>(half)), sin_h(static_cast<size_t>(half));
    for (int64_t r = begin; r < end; ++r) {
      // Angles in fp32, as transformers computes them.
      const float p = static_cast<float>(pos[r]);
      for (int64_t i = 0; i < half; ++i) {
        const float angle = p * inv_freq[i];
        cos_h[i] = std::cos(angle);
        sin_h[i] = std::sin(angle);
      }
      float* row = qkv + r * width;
      for (int64_t h = 0; h < N + K; ++h) {
        float* x = row + h * D;
        const float* nw = h < N ? q_norm : k_norm;
        if (nw != nullptr) NormRow(x, nw, D, eps);
        RopeRow(x, cos_h.data(), sin_h.data(), half);
      }
    }
  });
}

void SiluGate(const float* gu, float* out, int64_t rows, int64_t I) {
  at::parallel_for(0, rows * I, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t r = idx / I, i = idx % I;
      const float g = gu[r * 2 * I + i];
      out[idx] = g / (1.0f + std::exp(-g)) * gu[r * 2 * I + I + i];
    }
  });
}

namespace {

__attribute__((target("avx2,fma"))) inline float HorizontalSum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// Output rows [o_begin, o_end) for all M inputs. Tiles of 3 weight rows x 4
// input rows: 12 accumulators plus 4 loaded vectors fit the 16 ymm
// registers, giving 12 FMAs per 7 loads; the 3 weight rows stay in L1 while
// every group of input rows passes over them.
__attribute__((target("avx2,fma"))) void SkinnyMatmulRange(const float* x, const float* W,
                                                           const float* b, float* y, int64_t M,
                                                           int64_t in, int64_t out,
                                                           int64_t o_begin, int64_t o_end) {
  const int64_t in8 = in - in % 8;
  int64_t o = o_begin;
  for (; o + 3 <= o_end; o += 3) {
    const float* w[3] = {W + o * in, W + (o + 1) * in, W + (o + 2) * in};
    for (int64_t m = 0; m < M; m += 4) {
      // Rows past M repeat the last row; their results are not stored.
      const float* xr[4];
      for (int j = 0; j < 4; ++j) xr[j] = x + std::min(m + j, M - 1) * in;
      __m256 acc[3][4];
      for (int r = 0; r < 3; ++r) {
        for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_setzero_ps();
      }
      for (int64_t i = 0; i < in8; i += 8) {
        const __m256 w0 = _mm256_loadu_ps(w[0] + i), w1 = _mm256_loadu_ps(w[1] + i),
                     w2 = _mm256_loadu_ps(w[2] + i);
        for (int j = 0; j < 4; ++j) {
          const __m256 v = _mm256_loadu_ps(xr[j] + i);
          acc[0][j] = _mm256_fmadd_ps(v, w0, acc[0][j]);
          acc[1][j] = _mm256_fmadd_ps(v, w1, acc[1][j]);
          acc[2][j] = _mm256_fmadd_ps(v, w2, acc[2][j]);
        }
      }
      for (int r = 0; r < 3; ++r) {
        const float bias = b != nullptr ? b[o + r] : 0.0f;
        for (int j = 0; j < 4 && m + j < M; ++j) {
          float sum = HorizontalSum(acc[r][j]);
          for (int64_t i = in8; i < in; ++i) sum += xr[j][i] * w[r][i];
          y[(m + j) * out + o + r] = sum + bias;
        }
      }
    }
  }
  for (; o < o_end; ++o) {  // leftover rows
    for (int64_t m = 0; m < M; ++m) {
      y[m * out + o] = Dot(x + m * in, W + o * in, in) + (b != nullptr ? b[o] : 0.0f);
    }
  }
}

}  // namespace

bool SkinnyMatmul(const float* x, const float* W, const float* b, float* y, int64_t M,
                  int64_t in, int64_t out) {
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (!supported) return false;
  // Split output rows across threads in multiples of 3 (the tile height).
  const int64_t blocks = (out + 2) / 3;
  at::parallel_for(0, blocks, std::max<int64_t>(1, 4096 / std::max<int64_t>(in * M / 64, 1)),
                   [&](int64_t begin, int64_t end) {
                     SkinnyMatmulRange(x, W, b, y, M, in, out, begin * 3, std::min(end * 3, out));
                   });
  return true;
}

void DecodeAttention(const float* q, int64_t q_stride, const float* k_cache,
                     const float* v_cache, const int64_t* len, float* out, int64_t B, int64_t N,
                     int64_t K, int64_t D, int64_t cap) {
  const int64_t rep = N / K;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  at::parallel_for(0, B * N, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    for (int64_t bn = begin; bn < end; ++bn) {
      const int64_t b = bn / N, n = bn % N, kv = n / rep;
      const int64_t S = len[b];
      const float* qv = q + b * q_stride + n * D;
      const float* kb = k_cache + (b * K + kv) * cap * D;
      const float* vb = v_cache + (b * K + kv) * cap * D;
      float* o = out + bn * D;
      scores.resize(static_cast<size_t>(S));
      float mx = -INFINITY;
      for (int64_t j = 0; j < S; ++j) {
        scores[j] = Dot(qv, kb + j * D, D) * scale;
        mx = std::max(mx, scores[j]);
      }
      float sum = 0;
      for (int64_t j = 0; j < S; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      const float inv = 1.0f / sum;
      std::fill(o, o + D, 0.0f);
      for (int64_t j = 0; j < S; ++j) {
        const float p = scores[j] * inv;
        const float* vj = vb + j * D;
        for (int64_t d = 0; d < D; ++d) o[d] += p * vj[d];
      }
    }
  });
}

}  // namespace cpu
}  // namespace ssd
