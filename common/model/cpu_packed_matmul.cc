#include "common/model/cpu_packed_matmul.h"

// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined"
// register, which -Wall reports as uninitialised in every caller.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/model/cpu_rows.h"
#include "common/util/cpu_features.h"

namespace ssd {
namespace cpu {
namespace {

constexpr int64_t kRows = 6;   // rows per tile
constexpr int64_t kGroup = 4;  // panels per AVX-512 tile (64 outputs)

// Weights as fp32 values, stored as fp32 or as bf16 bits (the upper half of
// an fp32, so widening is exact): one at a time and eight at a time.
inline float WeightValue(float w) { return w; }
inline float WeightValue(uint16_t w) {
  const uint32_t bits = static_cast<uint32_t>(w) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

__attribute__((target("avx2,fma"))) inline __m256 LoadW8(const float* w) { return _mm256_loadu_ps(w); }
__attribute__((target("avx2,fma"))) inline __m256 LoadW8(const uint16_t* w) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

template <typename WT>
void Pack(const WT* W, int64_t out, int64_t in, WT* packed) {
  const int64_t panels = (out + kPanel - 1) / kPanel;
  for (int64_t p = 0; p < panels; ++p) {
    WT* dst = packed + p * in * kPanel;
    for (int64_t j = 0; j < kPanel; ++j) {
      const int64_t o = p * kPanel + j;
      if (o < out) {
        const WT* src = W + o * in;
        for (int64_t i = 0; i < in; ++i) dst[i * kPanel + j] = src[i];
      } else {
        for (int64_t i = 0; i < in; ++i) dst[i * kPanel + j] = WT(0);
      }
    }
  }
}

// ---- AVX-512: R rows x P panels, one zmm accumulator each.

__attribute__((target("avx512f"))) inline __m512 Load16(const float* w) { return _mm512_loadu_ps(w); }
__attribute__((target("avx512f"))) inline __m512 Load16(const uint16_t* w) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

template <int R, int P, typename WT>
__attribute__((target("avx512f"))) void Tile512(const float* x, int64_t in, const WT* panels, const float* b, float* y,
                                                int64_t ldy, int64_t o, int64_t o_end, const char* next,
                                                int64_t next_lines, bool first) {
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r) {
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  }
  // With few rows, or as the first tile over a group (whose weights come
  // from L3 or memory, not L2), the tile streams weights faster than the
  // hardware prefetcher runs ahead of its P streams (bf16 most: half the
  // bytes per step); ask for each line 2 KB ahead. `next_lines` lines from
  // `next` (the next group's) are asked into L2, one per step.
  const bool prefetch = R <= 2 || first;
  constexpr int64_t kStepsPerLine = 64 / (kPanel * static_cast<int64_t>(sizeof(WT)));
  constexpr int64_t kAhead = 2048 / (kPanel * static_cast<int64_t>(sizeof(WT)));
  for (int64_t i = 0; i < in; ++i) {
    if (prefetch && i % kStepsPerLine == 0) {
      for (int p = 0; p < P; ++p) {
        _mm_prefetch(reinterpret_cast<const char*>(panels + (p * in + i + kAhead) * kPanel), _MM_HINT_T0);
      }
    }
    if (i < next_lines) _mm_prefetch(next + i * 64, _MM_HINT_T1);
    __m512 w[P];
    for (int p = 0; p < P; ++p) w[p] = Load16(panels + (p * in + i) * kPanel);
    for (int r = 0; r < R; ++r) {
      const __m512 v = _mm512_set1_ps(x[r * in + i]);
      for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(v, w[p], acc[r][p]);
    }
  }
  for (int p = 0; p < P; ++p) {
    const int64_t o0 = o + p * kPanel, n = std::min<int64_t>(kPanel, o_end - o0);
    const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1);
    const __m512 bias = b != nullptr ? _mm512_maskz_loadu_ps(mask, b + o0) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) {
      const __m512 v = b != nullptr ? _mm512_add_ps(acc[r][p], bias) : acc[r][p];
      _mm512_mask_storeu_ps(y + r * ldy + o0, mask, v);
    }
  }
}

template <int P, typename WT>
__attribute__((target("avx512f"))) void Rows512(const float* x, int64_t M, int64_t in, const WT* panels, const float* b,
                                                float* y, int64_t ldy, int64_t o, int64_t o_end, const WT* next,
                                                int64_t next_elems) {
  // The next group's weights are asked into L2 while this one computes,
  // spread over the tiles (one line per kernel step), so the first tile of
  // the next group does not wait on L3 or memory.
  const int64_t tiles = (M + kRows - 1) / kRows;
  const int64_t lines = next != nullptr ? next_elems * static_cast<int64_t>(sizeof(WT)) / 64 : 0;
  const int64_t per_tile = std::min(in, (lines + tiles - 1) / tiles);
  const char* pf = reinterpret_cast<const char*>(next);
  int64_t done = 0;
  auto take = [&](int64_t* n) {
    *n = std::min(per_tile, lines - done);
    const char* at = pf + done * 64;
    done += *n;
    return at;
  };
  // Full tiles of 6 rows; a remainder under 4 rows shares the last full
  // tile's rows instead (6 + 2 as 4 + 4): a tile of 1 to 3 rows has too few
  // independent accumulators to keep both FMA units busy.
  const int64_t rest = M % kRows;
  const int64_t full = M / kRows - (rest > 0 && rest < 4 && M > kRows ? 1 : 0);
  int64_t m = 0, n = 0;
  for (int64_t k = 0; k < full; ++k, m += kRows) {
    const char* at = take(&n);
    Tile512<kRows, P>(x + m * in, in, panels, b, y + m * ldy, ldy, o, o_end, at, n, m == 0);
  }
  if (M - m > kRows) {  // 7 to 9 rows: split in two
    const int64_t half = (M - m) / 2;
    const char* at = take(&n);
    switch (half) {
      case 4: Tile512<4, P>(x + m * in, in, panels, b, y + m * ldy, ldy, o, o_end, at, n, m == 0); break;
      default: Tile512<3, P>(x + m * in, in, panels, b, y + m * ldy, ldy, o, o_end, at, n, m == 0); break;
    }
    m += half;
  }
  const float* xr = x + m * in;
  float* yr = y + m * ldy;
  const char* at = take(&n);
  switch (M - m) {
    case 5: Tile512<5, P>(xr, in, panels, b, yr, ldy, o, o_end, at, n, m == 0); break;
    case 4: Tile512<4, P>(xr, in, panels, b, yr, ldy, o, o_end, at, n, m == 0); break;
    case 3: Tile512<3, P>(xr, in, panels, b, yr, ldy, o, o_end, at, n, m == 0); break;
    case 2: Tile512<2, P>(xr, in, panels, b, yr, ldy, o, o_end, at, n, m == 0); break;
    case 1: Tile512<1, P>(xr, in, panels, b, yr, ldy, o, o_end, at, n, m == 0); break;
    default: break;
  }
}

template <typename WT>
__attribute__((target("avx512f"))) void Matmul512(const float* x, int64_t M, const WT* W, int64_t in, const float* b,
                                                  float* y, int64_t ldy, int64_t o_begin, int64_t o_end) {
  // Groups of up to 4 panels: their weights at one input (4 x 64 bytes)
  // serve all the rows of a tile; the group stays in L2 across row tiles.
  for (int64_t o = o_begin; o < o_end; o += kGroup * kPanel) {
    const WT* panels = W + (o / kPanel) * in * kPanel;
    const int64_t g_end = std::min(o_end, o + kGroup * kPanel);
    const WT* next = g_end < o_end ? W + (g_end / kPanel) * in * kPanel : nullptr;
    const int64_t next_panels = (std::min(o_end, g_end + kGroup * kPanel) - g_end + kPanel - 1) / kPanel;
    const int64_t next_elems = next_panels * kPanel * in;
    switch ((g_end - o + kPanel - 1) / kPanel) {
      case 4: Rows512<4>(x, M, in, panels, b, y, ldy, o, g_end, next, next_elems); break;
      case 3: Rows512<3>(x, M, in, panels, b, y, ldy, o, g_end, next, next_elems); break;
      case 2: Rows512<2>(x, M, in, panels, b, y, ldy, o, g_end, next, next_elems); break;
      default: Rows512<1>(x, M, in, panels, b, y, ldy, o, g_end, next, next_elems); break;
    }
  }
  ZeroHighZmm();  // the tiles use all 32 registers
}

// ---- AVX2: R rows x one panel (two ymm accumulators per row).

template <int R, typename WT>
__attribute__((target("avx2,fma"))) void Tile256(const float* x, int64_t in, const WT* panel, const float* b, float* y,
                                                 int64_t ldy, int64_t o, int64_t o_end) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t i = 0; i < in; ++i) {
    const __m256 w0 = LoadW8(panel + i * kPanel), w1 = LoadW8(panel + i * kPanel + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 v = _mm256_set1_ps(x[r * in + i]);
      acc[r][0] = _mm256_fmadd_ps(v, w0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(v, w1, acc[r][1]);
    }
  }
  const int64_t n = std::min<int64_t>(kPanel, o_end - o);
  for (int r = 0; r < R; ++r) {
    float sums[kPanel];
    _mm256_storeu_ps(sums, acc[r][0]);
    _mm256_storeu_ps(sums + 8, acc[r][1]);
    for (int64_t j = 0; j < n; ++j) y[r * ldy + o + j] = b != nullptr ? sums[j] + b[o + j] : sums[j];
  }
}

template <typename WT>
__attribute__((target("avx2,fma"))) void Matmul256(const float* x, int64_t M, const WT* W, int64_t in, const float* b,
                                                   float* y, int64_t ldy, int64_t o_begin, int64_t o_end) {
  for (int64_t o = o_begin; o < o_end; o += kPanel) {
    const WT* panel = W + (o / kPanel) * in * kPanel;
    const int64_t p_end = std::min(o_end, o + kPanel);
    int64_t m = 0;
    for (; m + kRows <= M; m += kRows) Tile256<kRows>(x + m * in, in, panel, b, y + m * ldy, ldy, o, p_end);
    const float* xr = x + m * in;
    float* yr = y + m * ldy;
    switch (M - m) {
      case 5: Tile256<5>(xr, in, panel, b, yr, ldy, o, p_end); break;
      case 4: Tile256<4>(xr, in, panel, b, yr, ldy, o, p_end); break;
      case 3: Tile256<3>(xr, in, panel, b, yr, ldy, o, p_end); break;
      case 2: Tile256<2>(xr, in, panel, b, yr, ldy, o, p_end); break;
      case 1: Tile256<1>(xr, in, panel, b, yr, ldy, o, p_end); break;
      default: break;
    }
  }
}

// ---- Scalar: the same fused multiply-adds one at a time.

template <typename WT>
void MatmulScalar(const float* x, int64_t M, const WT* W, int64_t in, const float* b, float* y, int64_t ldy,
                  int64_t o_begin, int64_t o_end) {
  for (int64_t o = o_begin; o < o_end; ++o) {
    const WT* col = W + (o / kPanel) * in * kPanel + o % kPanel;
    for (int64_t m = 0; m < M; ++m) {
      float acc = 0.0f;
      for (int64_t i = 0; i < in; ++i) acc = std::fma(x[m * in + i], WeightValue(col[i * kPanel]), acc);
      y[m * ldy + o] = b != nullptr ? acc + b[o] : acc;
    }
  }
}

bool CpuHas(PackedIsa isa) {
  switch (isa) {
    case PackedIsa::kAvx512: return HaveAvx512();
    case PackedIsa::kAvx2: return CpuHasAvx2Fma();
    default: return true;
  }
}

template <typename WT>
void Run(PackedIsa isa, const float* x, int64_t M, const WT* W, int64_t in, const float* b, float* y, int64_t ldy,
         int64_t o_begin, int64_t o_end) {
  switch (isa) {
    case PackedIsa::kAvx512: Matmul512(x, M, W, in, b, y, ldy, o_begin, o_end); break;
    case PackedIsa::kAvx2: Matmul256(x, M, W, in, b, y, ldy, o_begin, o_end); break;
    default: MatmulScalar(x, M, W, in, b, y, ldy, o_begin, o_end); break;
  }
}

}  // namespace

int64_t PackedElements(int64_t out, int64_t in) { return (out + kPanel - 1) / kPanel * kPanel * in; }

void PackMatrix(const float* W, int64_t out, int64_t in, float* packed) { Pack(W, out, in, packed); }
void PackMatrix(const uint16_t* W, int64_t out, int64_t in, uint16_t* packed) { Pack(W, out, in, packed); }

bool PackedMatmulWith(PackedIsa isa, const float* x, int64_t M, const PackedMatrix& W, const float* b, float* y,
                      int64_t ldy, int64_t o_begin, int64_t o_end) {
  if (!CpuHas(isa)) return false;
  o_end = std::min(o_end, W.out);
  if (M <= 0 || o_begin >= o_end) return true;
  if (W.bf16 != nullptr) {
    Run(isa, x, M, W.bf16, W.in, b, y, ldy, o_begin, o_end);
  } else {
    Run(isa, x, M, W.f32, W.in, b, y, ldy, o_begin, o_end);
  }
  return true;
}

void PackedMatmul(const float* x, int64_t M, const PackedMatrix& W, const float* b, float* y, int64_t ldy,
                  int64_t o_begin, int64_t o_end) {
  static const PackedIsa best = CpuHas(PackedIsa::kAvx512) ? PackedIsa::kAvx512
                                : CpuHas(PackedIsa::kAvx2) ? PackedIsa::kAvx2
                                                           : PackedIsa::kScalar;
  PackedMatmulWith(best, x, M, W, b, y, ldy, o_begin, o_end);
}

}  // namespace cpu
}  // namespace ssd
