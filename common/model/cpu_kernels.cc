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
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
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

// The end of one dot product: the vector accumulator's lanes, the scalar
// tail past in8, then the bias.
__attribute__((target("avx2,fma"))) inline float FinishDot(__m256 acc, const float* xr,
                                                           const float* wr, int64_t in8,
                                                           int64_t in, const float* b,
                                                           int64_t o) {
  float sum = HorizontalSum(acc);
  for (int64_t i = in8; i < in; ++i) sum += xr[i] * wr[i];
  return sum + (b != nullptr ? b[o] : 0.0f);
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
    // Every (row, output) dot product accumulates the same way whether its
    // row is in a tile of 4 or in the tail, so each output row's value does
    // not depend on M or on the other rows (batch invariance).
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) {
      const float* xr[4];
      for (int j = 0; j < 4; ++j) xr[j] = x + (m + j) * in;
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
        for (int j = 0; j < 4; ++j) {
          y[(m + j) * out + o + r] = FinishDot(acc[r][j], xr[j], w[r], in8, in, b, o + r);
        }
      }
    }
  }
  // Rows past the last full tile of 4, one at a time. Twelve output rows
  // per pass keep twelve independent FMA chains in flight (a single row
  // against 3 outputs would wait on FMA latency); each (row, output) dot
  // product still accumulates exactly as in the tiles above.
  const int64_t o_tiles = o;
  for (int64_t m = M - M % 4; m < M; ++m) {
    const float* xr = x + m * in;
    int64_t oo = o_begin;
    for (; oo + 12 <= o_tiles; oo += 12) {
      __m256 acc[12];
      for (int r = 0; r < 12; ++r) acc[r] = _mm256_setzero_ps();
      for (int64_t i = 0; i < in8; i += 8) {
        const __m256 v = _mm256_loadu_ps(xr + i);
        for (int r = 0; r < 12; ++r) acc[r] = _mm256_fmadd_ps(v, _mm256_loadu_ps(W + (oo + r) * in + i), acc[r]);
      }
      for (int r = 0; r < 12; ++r) y[m * out + oo + r] = FinishDot(acc[r], xr, W + (oo + r) * in, in8, in, b, oo + r);
    }
    for (; oo < o_tiles; ++oo) {
      __m256 acc = _mm256_setzero_ps();
      for (int64_t i = 0; i < in8; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(xr + i), _mm256_loadu_ps(W + oo * in + i), acc);
      y[m * out + oo] = FinishDot(acc, xr, W + oo * in, in8, in, b, oo);
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
  // A task gets at least ~32k multiply-adds: small layers at decode sizes
  // still split over the threads, while fork/join costs stay small.
  at::parallel_for(0, blocks, std::max<int64_t>(1, 32768 / std::max<int64_t>(3 * in * M, 1)),
                   [&](int64_t begin, int64_t end) {
                     SkinnyMatmulRange(x, W, b, y, M, in, out, begin * 3, std::min(end * 3, out));
                   });
  return true;
}

namespace {

// exp(x) for 8 floats, Cephes-style: x = n ln2 + r with |r| <= ln2/2, exp(r)
// by a degree-7 polynomial, 2^n through the exponent bits. Relative error is
// about 1 ulp over the range used here (x <= 0); inputs below -87.3 flush
// to ~0, as the softmax wants.
__attribute__((target("avx2,fma"))) inline __m256 Exp8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

constexpr int64_t kMaxAvxHeadDim = 256;

// One (batch, head, query) row: scores, then exp in blocks of 8, then the
// weighted sum of values; D is a multiple of 8 and at most kMaxAvxHeadDim.
__attribute__((target("avx2,fma"))) void AttendRowAvx2(const float* qv, const HeadsView& k,
                                                       const HeadsView& v, int64_t b, int64_t kv,
                                                       int64_t lo, int64_t hi, int64_t D,
                                                       float scale, float* scores, float* o) {
  const int64_t chunks = D / 8;
  __m256 q[kMaxAvxHeadDim / 8];
  for (int64_t c = 0; c < chunks; ++c) q[c] = _mm256_mul_ps(_mm256_loadu_ps(qv + 8 * c), _mm256_set1_ps(scale));
  const int64_t S = hi - lo;
  float mx = -INFINITY;
  for (int64_t j = 0; j < S; ++j) {
    const float* kj = k.Row(b, kv, lo + j);
    __m256 acc = _mm256_mul_ps(q[0], _mm256_loadu_ps(kj));
    for (int64_t c = 1; c < chunks; ++c) acc = _mm256_fmadd_ps(q[c], _mm256_loadu_ps(kj + 8 * c), acc);
    scores[j] = HorizontalSum(acc);
    mx = std::max(mx, scores[j]);
  }
  const __m256 vmx = _mm256_set1_ps(mx);
  __m256 vsum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= S; j += 8) {
    const __m256 e = Exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + j), vmx));
    _mm256_storeu_ps(scores + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  float sum = HorizontalSum(vsum);
  if (j < S) {  // tail: pad to 8 with -inf-like values that exp to 0
    float tail[8];
    for (int t = 0; t < 8; ++t) tail[t] = j + t < S ? scores[j + t] - mx : -100.0f;
    float et[8];
    _mm256_storeu_ps(et, Exp8(_mm256_loadu_ps(tail)));
    for (int t = 0; j + t < S; ++t) {
      scores[j + t] = et[t];
      sum += et[t];
    }
  }
  __m256 acc[kMaxAvxHeadDim / 8];
  for (int64_t c = 0; c < chunks; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t t = 0; t < S; ++t) {
    const __m256 p = _mm256_set1_ps(scores[t]);
    const float* vj = v.Row(b, kv, lo + t);
    for (int64_t c = 0; c < chunks; ++c) acc[c] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * c), acc[c]);
  }
  const __m256 inv = _mm256_set1_ps(S > 0 ? 1.0f / sum : 0.0f);
  for (int64_t c = 0; c < chunks; ++c) _mm256_storeu_ps(o + 8 * c, _mm256_mul_ps(acc[c], inv));
}

}  // namespace

void RangeAttention(HeadsView q, HeadsView k, HeadsView v, const int64_t* key_begin,
                    const int64_t* key_end, float* out, int64_t B, int64_t T, int64_t N,
                    int64_t K, int64_t D) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool vector_path = avx2 && D % 8 == 0 && D <= kMaxAvxHeadDim;
  const int64_t rep = N / K;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  at::parallel_for(0, B * N * T, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(static_cast<size_t>(D)), scores;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / (N * T), n = (task / T) % N, i = task % T;
      const int64_t kv = n / rep;
      const float* qv = q.data + b * q.batch + n * q.head + i * q.pos;
      float* o = out + ((b * T + i) * N + n) * D;
      const int64_t lo = key_begin[b * T + i], hi = key_end[b * T + i];
      if (vector_path) {
        scores.resize(static_cast<size_t>(std::max<int64_t>(hi - lo, 1)));
        AttendRowAvx2(qv, k, v, b, kv, lo, hi, D, scale, scores.data(), o);
        continue;
      }
      // Portable path: one pass with a running maximum.
      std::fill(acc.begin(), acc.end(), 0.0f);
      float m = -INFINITY, l = 0.0f;
      for (int64_t j = lo; j < hi; ++j) {
        const float s = Dot(qv, k.Row(b, kv, j), D) * scale;
        const float* vj = v.Row(b, kv, j);
        if (s > m) {
          // New running maximum: rescale what has been accumulated so far.
          const float c = std::exp(m - s);
          l = l * c + 1.0f;
          for (int64_t d = 0; d < D; ++d) acc[d] = acc[d] * c + vj[d];
          m = s;
        } else {
          const float p = std::exp(s - m);
          l += p;
          for (int64_t d = 0; d < D; ++d) acc[d] += p * vj[d];
        }
      }
      const float inv = l > 0 ? 1.0f / l : 0.0f;
      for (int64_t d = 0; d < D; ++d) o[d] = acc[d] * inv;
    }
  });
}

}  // namespace cpu
}  // namespace ssd
