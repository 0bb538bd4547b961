#include "common/model/cpu_rows.h"

// GCC 12's AVX-512 cast and broadcast intrinsics start from a
// self-initialised "undefined" register, which -Wall reports as
// uninitialised in every caller.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "common/util/cpu_features.h"

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

__attribute__((target("avx2,fma"))) inline float HorizontalSum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// HorizontalSum of eight accumulators at once, in the same order for each
// (lanes l and l + 4 first, then (0, 2) and (1, 3), then the two halves):
// lane j of the result is bitwise HorizontalSum(a[j]).
__attribute__((target("avx2,fma"))) inline __m256 Reduce8(const __m256 a[8]) {
  __m256 p[4];
  for (int i = 0; i < 4; ++i) {
    p[i] = _mm256_add_ps(_mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x20),
                         _mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x31));
  }
  // p[i] = [a_2i: s0 s1 s2 s3 | a_2i+1: s0 s1 s2 s3] with s_j = l_j + l_j+4.
  const __m256 u0 = _mm256_add_ps(_mm256_shuffle_ps(p[0], p[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm256_shuffle_ps(p[0], p[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 u1 = _mm256_add_ps(_mm256_shuffle_ps(p[2], p[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm256_shuffle_ps(p[2], p[3], _MM_SHUFFLE(3, 2, 3, 2)));
  // u0 = [a0: s0+s2, s1+s3, a2: .. | a1: .., a3: ..], u1 likewise for a4..a7.
  const __m256 t = _mm256_add_ps(_mm256_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm256_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1)));
  // t = [a0 a2 a4 a6 | a1 a3 a5 a7].
  return _mm256_permutevar8x32_ps(t, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// The end of one dot product: the lanes, the inputs past in8 one by one,
// then the bias.
__attribute__((target("avx2,fma"))) inline float FinishDot(__m256 acc, const float* xr, const float* wr, int64_t in8,
                                                           int64_t in, const float* b, int64_t o) {
  float sum = HorizontalSum(acc);
  for (int64_t i = in8; i < in; ++i) sum += xr[i] * wr[i];
  return sum + (b != nullptr ? b[o] : 0.0f);
}

// One (row, output) dot product on its own.
__attribute__((target("avx2,fma"))) inline float DotAvx2(const float* xr, const float* wr, int64_t in8, int64_t in,
                                                         const float* b, int64_t o) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < in8; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(xr + i), _mm256_loadu_ps(wr + i), acc);
  return FinishDot(acc, xr, wr, in8, in, b, o);
}

// AVX2: tiles of 3 outputs x 4 rows (12 accumulators and 4 loaded vectors
// fill the 16 ymm registers: 12 FMAs per 7 loads; the 3 weight rows stay in
// L1 while the row groups pass over them). Rows past the last group of 4 go
// one at a time against 12 outputs per pass, so twelve FMA chains are in
// flight; outputs past the last tile of 3 go one by one.
__attribute__((target("avx2,fma"))) void SkinnyRangeAvx2(const float* x, const float* W, const float* b, float* y,
                                                         int64_t M, int64_t in, int64_t ldy, int64_t o_begin,
                                                         int64_t o_end) {
  const int64_t in8 = in - in % 8;
  int64_t o = o_begin;
  for (; o + 3 <= o_end; o += 3) {
    const float* w[3] = {W + o * in, W + (o + 1) * in, W + (o + 2) * in};
    for (int64_t m = 0; m + 4 <= M; m += 4) {
      const float* xr[4];
      for (int j = 0; j < 4; ++j) xr[j] = x + (m + j) * in;
      __m256 acc[3][4];
      for (int r = 0; r < 3; ++r) {
        for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_setzero_ps();
      }
      for (int64_t i = 0; i < in8; i += 8) {
        const __m256 w0 = _mm256_loadu_ps(w[0] + i), w1 = _mm256_loadu_ps(w[1] + i), w2 = _mm256_loadu_ps(w[2] + i);
        for (int j = 0; j < 4; ++j) {
          const __m256 v = _mm256_loadu_ps(xr[j] + i);
          acc[0][j] = _mm256_fmadd_ps(v, w0, acc[0][j]);
          acc[1][j] = _mm256_fmadd_ps(v, w1, acc[1][j]);
          acc[2][j] = _mm256_fmadd_ps(v, w2, acc[2][j]);
        }
      }
      for (int r = 0; r < 3; ++r) {
        for (int j = 0; j < 4; ++j) {
          y[(m + j) * ldy + o + r] = FinishDot(acc[r][j], xr[j], w[r], in8, in, b, o + r);
        }
      }
    }
  }
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
      for (int r = 0; r < 12; ++r) y[m * ldy + oo + r] = FinishDot(acc[r], xr, W + (oo + r) * in, in8, in, b, oo + r);
    }
    for (; oo < o_tiles; ++oo) y[m * ldy + oo] = DotAvx2(xr, W + oo * in, in8, in, b, oo);
  }
  for (; o < o_end; ++o) {
    for (int64_t m = 0; m < M; ++m) y[m * ldy + o] = DotAvx2(x + m * in, W + o * in, in8, in, b, o);
  }
}

// AVX-512 keeps the eight-lane order of the AVX2 kernel by putting two
// outputs in one zmm register: lanes 0-7 accumulate output o, lanes 8-15
// output o + 1, each exactly as a ymm accumulator would, and the input
// chunk is broadcast to both halves. R rows x P register pairs (2P
// outputs): the main tile is 6 x 4 (24 accumulators, 4 weight pairs and one
// input in the 32 zmm registers: 24 FMAs of 16 lanes per 10 loads).
// Eight weights of two rows as one register: row a in lanes 0-7, row b in
// 8-15.
__attribute__((target("avx512f,avx512dq,avx2,fma"))) inline __m512 LoadWPair(const float* a, const float* b) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(a)), _mm256_loadu_ps(b), 1);
}

template <int R, int P>
__attribute__((target("avx512f,avx512dq,avx2,fma"))) inline void Tile512(const float* x, const float* W, const float* b,
                                                                         float* y, int64_t in, int64_t in8, int64_t ldy,
                                                                         int64_t m, int64_t o) {
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r) {
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  }
  const float* w = W + o * in;
  const float* xr = x + m * in;
  for (int64_t i = 0; i < in8; i += 8) {
    __m512 wp[P];
    for (int p = 0; p < P; ++p) wp[p] = LoadWPair(w + 2 * p * in + i, w + (2 * p + 1) * in + i);
    for (int r = 0; r < R; ++r) {
      const __m512 v = _mm512_broadcast_f32x8(_mm256_loadu_ps(xr + r * in + i));
      for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(v, wp[p], acc[r][p]);
    }
  }
  static_assert(P == 4, "the lanes of eight outputs are summed together");
  for (int r = 0; r < R; ++r) {
    __m256 lanes[8];
    for (int p = 0; p < P; ++p) {
      lanes[2 * p] = _mm512_extractf32x8_ps(acc[r][p], 0);
      lanes[2 * p + 1] = _mm512_extractf32x8_ps(acc[r][p], 1);
    }
    const __m256 sums = Reduce8(lanes);
    float* out = y + (m + r) * ldy + o;
    if (in8 == in) {  // no inputs left over: only the bias
      _mm256_storeu_ps(out, b != nullptr ? _mm256_add_ps(sums, _mm256_loadu_ps(b + o)) : sums);
      continue;
    }
    float part[8];
    _mm256_storeu_ps(part, sums);
    for (int j = 0; j < 8; ++j) {
      float sum = part[j];
      for (int64_t i = in8; i < in; ++i) sum += xr[r * in + i] * w[j * in + i];
      out[j] = sum + (b != nullptr ? b[o + j] : 0.0f);
    }
  }
}

__attribute__((target("avx512f,avx512dq,avx2,fma"))) void SkinnyRangeAvx512(const float* x, const float* W,
                                                                            const float* b, float* y, int64_t M,
                                                                            int64_t in, int64_t ldy, int64_t o_begin,
                                                                            int64_t o_end) {
  const int64_t in8 = in - in % 8;
  int64_t o = o_begin;
  // Eight outputs per tile; the weight rows (8 x in values) stay in L1
  // while the groups of rows pass over them.
  for (; o + 8 <= o_end; o += 8) {
    int64_t m = 0;
    // Groups of 6 rows; a remainder of 7 or 8 goes as 4 + 3 or 4 + 4,
    // whose tiles keep more FMAs in flight than 6 + 1 or 6 + 2.
    const int64_t six = M % 6 == 1 || M % 6 == 2 ? M - M % 6 - 6 : M;
    for (; m + 6 <= six; m += 6) Tile512<6, 4>(x, W, b, y, in, in8, ldy, m, o);
    if (M - m >= 7) {
      Tile512<4, 4>(x, W, b, y, in, in8, ldy, m, o);
      m += 4;
    }
    switch (M - m) {
      case 5: Tile512<5, 4>(x, W, b, y, in, in8, ldy, m, o); break;
      case 4: Tile512<4, 4>(x, W, b, y, in, in8, ldy, m, o); break;
      case 3: Tile512<3, 4>(x, W, b, y, in, in8, ldy, m, o); break;
      case 2: Tile512<2, 4>(x, W, b, y, in, in8, ldy, m, o); break;
      case 1: Tile512<1, 4>(x, W, b, y, in, in8, ldy, m, o); break;
      default: break;
    }
  }
  for (; o < o_end; ++o) {
    for (int64_t m = 0; m < M; ++m) y[m * ldy + o] = DotAvx2(x + m * in, W + o * in, in8, in, b, o);
  }
  ZeroHighZmm();  // the tiles use all 32 registers
}

bool RangeWith(SkinnyIsa isa, const float* x, const float* W, const float* b, float* y, int64_t M, int64_t in,
               int64_t ldy, int64_t o_begin, int64_t o_end) {
  if (!CpuHasAvx2Fma()) return false;
  if (isa == SkinnyIsa::kAvx512) {
    if (!CpuHasAvx512FDq()) return false;
    SkinnyRangeAvx512(x, W, b, y, M, in, ldy, o_begin, o_end);
  } else {
    SkinnyRangeAvx2(x, W, b, y, M, in, ldy, o_begin, o_end);
  }
  return true;
}

// AVX-512 unless $SSD_CPU_NO_AVX512=1.
bool Avx512Allowed() {
  if (!CpuHasAvx512FDq()) return false;
  const char* off = std::getenv("SSD_CPU_NO_AVX512");
  return off == nullptr || std::strcmp(off, "1") != 0;
}

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

// The rows j = lo, lo + 1, ... of head h of sequence b in a view, in order,
// with one block-table lookup per block instead of a division per row.
class RowWalker {
 public:
  RowWalker(const HeadsView& v, int64_t b, int64_t h, int64_t lo) : v_(v), b_(b), h_(h) {
    if (v.blocks == nullptr) {
      row_ = v.data + b * v.batch + h * v.head + lo * v.pos;
      return;
    }
    block_ = lo / v.block_size;
    left_ = v.block_size - lo % v.block_size;
    row_ = BlockStart() + (lo % v.block_size) * v.pos;
  }
  // The next row. A block's table entry is read only when one of its rows
  // is asked for, never past the last one.
  const float* Next() {
    if (v_.blocks != nullptr) {
      if (left_ == 0) {
        ++block_;
        left_ = v_.block_size;
        row_ = BlockStart();
      }
      --left_;
    }
    const float* r = row_;
    row_ += v_.pos;
    return r;
  }

 private:
  const float* BlockStart() const {
    return v_.data + v_.blocks[b_ * v_.blocks_stride + block_] * v_.batch + h_ * v_.head;
  }
  const HeadsView& v_;
  const int64_t b_, h_;
  int64_t block_ = 0, left_ = 0;
  const float* row_ = nullptr;
};

// Scores, then exp in blocks of 8, then the weighted sum of values; D is a
// multiple of 8 and at most kMaxAvxHeadDim. kChunks = D / 8 where it is a
// compile-time constant (the common head dims), so the query and the
// accumulators stay in registers instead of round-tripping through the
// stack at every key; 0 for any other D. The arithmetic is the same.
template <int kChunks>
__attribute__((target("avx2,fma"))) void AttendRowAvx2(const float* qv, const HeadsView& k, const HeadsView& v,
                                                       int64_t b, int64_t kv, int64_t lo, int64_t hi, int64_t D,
                                                       float scale, float* scores, float* o) {
  const int64_t chunks = kChunks > 0 ? kChunks : D / 8;
  __m256 q[kMaxAvxHeadDim / 8];
  for (int64_t c = 0; c < chunks; ++c) q[c] = _mm256_mul_ps(_mm256_loadu_ps(qv + 8 * c), _mm256_set1_ps(scale));
  const int64_t S = hi - lo;
  float mx = -INFINITY;
  int64_t j0 = 0;
  RowWalker keys(k, b, kv, lo);
  // Eight keys at a time, their lanes summed together (Reduce8 gives each
  // score exactly as HorizontalSum would).
  for (; j0 + 8 <= S; j0 += 8) {
    __m256 acc[8];
    for (int j = 0; j < 8; ++j) {
      const float* kj = keys.Next();
      acc[j] = _mm256_mul_ps(q[0], _mm256_loadu_ps(kj));
      for (int64_t c = 1; c < chunks; ++c) acc[j] = _mm256_fmadd_ps(q[c], _mm256_loadu_ps(kj + 8 * c), acc[j]);
    }
    _mm256_storeu_ps(scores + j0, Reduce8(acc));
  }
  for (int64_t j = j0; j < S; ++j) {
    const float* kj = keys.Next();
    __m256 acc = _mm256_mul_ps(q[0], _mm256_loadu_ps(kj));
    for (int64_t c = 1; c < chunks; ++c) acc = _mm256_fmadd_ps(q[c], _mm256_loadu_ps(kj + 8 * c), acc);
    scores[j] = HorizontalSum(acc);
  }
  for (int64_t j = 0; j < S; ++j) mx = std::max(mx, scores[j]);
  const __m256 vmx = _mm256_set1_ps(mx);
  __m256 vsum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= S; j += 8) {
    const __m256 e = Exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + j), vmx));
    _mm256_storeu_ps(scores + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  float sum = HorizontalSum(vsum);
  if (j < S) {  // tail: pad to 8 with values that exp to ~0
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
  RowWalker values(v, b, kv, lo);
  for (int64_t t = 0; t < S; ++t) {
    const __m256 p = _mm256_set1_ps(scores[t]);
    const float* vj = values.Next();
    for (int64_t c = 0; c < chunks; ++c) acc[c] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * c), acc[c]);
  }
  const __m256 inv = _mm256_set1_ps(S > 0 ? 1.0f / sum : 0.0f);
  for (int64_t c = 0; c < chunks; ++c) _mm256_storeu_ps(o + 8 * c, _mm256_mul_ps(acc[c], inv));
}

// g / (1 + exp(-g)) * u, eight at a time; the tail goes through the same
// lanes (padded), so an element's value does not depend on where a slice
// of the row begins or ends.
__attribute__((target("avx2,fma"))) inline __m256 SiluGate8(__m256 g, __m256 u) {
  const __m256 e = Exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

__attribute__((target("avx2,fma"))) void SiluGateAvx2(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, SiluGate8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n) {
    float g[8] = {0}, u[8] = {0}, o[8];
    std::copy(gate + i, gate + n, g);
    std::copy(up + i, up + n, u);
    _mm256_storeu_ps(o, SiluGate8(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
    std::copy(o, o + (n - i), out + i);
  }
}

// Portable: one pass with a running maximum.
void AttendRowPortable(const float* qv, const HeadsView& k, const HeadsView& v, int64_t b, int64_t kv, int64_t lo,
                       int64_t hi, int64_t D, float scale, float* acc, float* o) {
  std::fill(acc, acc + D, 0.0f);
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

}  // namespace

bool HaveAvx512() {
  static const bool yes = CpuHasAvx2Fma() && Avx512Allowed();
  return yes;
}

__attribute__((target("avx512f"))) void ZeroHighZmm() {
  asm volatile(
      "vpxord %%zmm16, %%zmm16, %%zmm16\n\tvpxord %%zmm17, %%zmm17, %%zmm17\n\t"
      "vpxord %%zmm18, %%zmm18, %%zmm18\n\tvpxord %%zmm19, %%zmm19, %%zmm19\n\t"
      "vpxord %%zmm20, %%zmm20, %%zmm20\n\tvpxord %%zmm21, %%zmm21, %%zmm21\n\t"
      "vpxord %%zmm22, %%zmm22, %%zmm22\n\tvpxord %%zmm23, %%zmm23, %%zmm23\n\t"
      "vpxord %%zmm24, %%zmm24, %%zmm24\n\tvpxord %%zmm25, %%zmm25, %%zmm25\n\t"
      "vpxord %%zmm26, %%zmm26, %%zmm26\n\tvpxord %%zmm27, %%zmm27, %%zmm27\n\t"
      "vpxord %%zmm28, %%zmm28, %%zmm28\n\tvpxord %%zmm29, %%zmm29, %%zmm29\n\t"
      "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31" ::
          : "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27",
            "xmm28", "xmm29", "xmm30", "xmm31");
}

void RmsNormRow(const float* x, const float* w, float* out, int64_t dim, float eps) {
  const float inv = 1.0f / std::sqrt(Dot(x, x, dim) / static_cast<float>(dim) + eps);
  for (int64_t i = 0; i < dim; ++i) out[i] = w[i] * (x[i] * inv);
}

void RopeTable(int64_t pos, const float* inv_freq, int64_t D, float* table) {
  const int64_t half = D / 2;
  // Angles in fp32, as transformers computes them.
  const float p = static_cast<float>(pos);
  for (int64_t i = 0; i < half; ++i) {
    const float angle = p * inv_freq[i];
    table[i] = std::cos(angle);
    table[half + i] = std::sin(angle);
  }
}

void NormRopeHead(float* x, const float* w, int64_t D, float eps, const float* table) {
  if (w != nullptr) {
    const float inv = 1.0f / std::sqrt(Dot(x, x, D) / static_cast<float>(D) + eps);
    for (int64_t i = 0; i < D; ++i) x[i] = w[i] * (x[i] * inv);
  }
  const int64_t half = D / 2;
  const float* cos_h = table;
  const float* sin_h = table + half;
  for (int64_t i = 0; i < half; ++i) {
    const float a = x[i], c = x[i + half];
    x[i] = a * cos_h[i] - c * sin_h[i];
    x[i + half] = c * cos_h[i] + a * sin_h[i];
  }
}

void QkNormRopeRow(float* row, int64_t N, int64_t K, int64_t D, const float* q_norm, const float* k_norm, float eps,
                   int64_t pos, const float* inv_freq, float* scratch) {
  RopeTable(pos, inv_freq, D, scratch);
  for (int64_t h = 0; h < N + K; ++h) NormRopeHead(row + h * D, h < N ? q_norm : k_norm, D, eps, scratch);
}

void SiluGateRow(const float* gate, const float* up, float* out, int64_t n) {
  if (CpuHasAvx2Fma()) {
    SiluGateAvx2(gate, up, out, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void SkinnyRange(const float* x, const float* W, const float* b, float* y, int64_t M, int64_t in, int64_t ldy,
                 int64_t o_begin, int64_t o_end) {
  RangeWith(HaveAvx512() ? SkinnyIsa::kAvx512 : SkinnyIsa::kAvx2, x, W, b, y, M, in, ldy, o_begin, o_end);
}

bool SkinnyRangeWith(SkinnyIsa isa, const float* x, const float* W, const float* b, float* y, int64_t M, int64_t in,
                     int64_t ldy, int64_t o_begin, int64_t o_end) {
  return RangeWith(isa, x, W, b, y, M, in, ldy, o_begin, o_end);
}

void AttendRow(const float* q, const HeadsView& k, const HeadsView& v, int64_t b, int64_t kv, int64_t lo, int64_t hi,
               int64_t D, float scale, float* scratch, float* out) {
  if (CpuHasAvx2Fma() && D % 8 == 0 && D <= kMaxAvxHeadDim) {
    switch (D) {
      case 32: AttendRowAvx2<4>(q, k, v, b, kv, lo, hi, D, scale, scratch, out); break;
      case 64: AttendRowAvx2<8>(q, k, v, b, kv, lo, hi, D, scale, scratch, out); break;
      case 128: AttendRowAvx2<16>(q, k, v, b, kv, lo, hi, D, scale, scratch, out); break;
      default: AttendRowAvx2<0>(q, k, v, b, kv, lo, hi, D, scale, scratch, out); break;
    }
  } else {
    AttendRowPortable(q, k, v, b, kv, lo, hi, D, scale, scratch, out);
  }
}

}  // namespace cpu
}  // namespace ssd
