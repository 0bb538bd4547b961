#include "common/model/cpu_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/util/cpu_features.h"

namespace ssd {
namespace cpu {

void RmsNorm(const float* x, const float* w, float* out, int64_t rows, int64_t dim, float eps) {
  at::parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(dim, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) RmsNormRow(x + r * dim, w, out + r * dim, dim, eps);
  });
}

void QkNormRope(float* qkv, int64_t rows, int64_t N, int64_t K, int64_t D, const float* q_norm, const float* k_norm,
                float eps, const int64_t* pos, const float* inv_freq) {
  const int64_t width = (N + 2 * K) * D;
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(D));
    for (int64_t r = begin; r < end; ++r) {
      QkNormRopeRow(qkv + r * width, N, K, D, q_norm, k_norm, eps, pos[r], inv_freq, scratch.data());
    }
  });
}

void SiluGate(const float* gu, float* out, int64_t rows, int64_t I) {
  at::parallel_for(0, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(I, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) SiluGateRow(gu + r * 2 * I, gu + r * 2 * I + I, out + r * I, I);
  });
}

bool SkinnyMatmul(const float* x, const float* W, const float* b, float* y, int64_t M, int64_t in, int64_t out) {
  if (!CpuHasAvx2Fma()) return false;
  // Split output rows across threads in blocks of 24 (a multiple of both
  // kernels' tile widths, so no thread ends on a narrow tail). A task gets
  // at least ~32k multiply-adds: small layers at decode sizes still split
  // over the threads, while fork/join costs stay small.
  constexpr int64_t kBlock = 24;
  const int64_t blocks = (out + kBlock - 1) / kBlock;
  at::parallel_for(0, blocks, std::max<int64_t>(1, 32768 / std::max<int64_t>(kBlock * in * M, 1)),
                   [&](int64_t begin, int64_t end) {
                     SkinnyRange(x, W, b, y, M, in, out, begin * kBlock, std::min(end * kBlock, out));
                   });
  return true;
}

void RangeAttention(HeadsView q, HeadsView k, HeadsView v, const int64_t* key_begin, const int64_t* key_end, float* out,
                    int64_t B, int64_t T, int64_t N, int64_t K, int64_t D) {
  const int64_t rep = N / K;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  at::parallel_for(0, B * N * T, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / (N * T), n = (task / T) % N, i = task % T;
      const int64_t lo = key_begin[b * T + i], hi = key_end[b * T + i];
      scratch.resize(static_cast<size_t>(std::max<int64_t>(hi - lo, 1) + D));
      AttendRow(q.data + b * q.batch + n * q.head + i * q.pos, k, v, b, n / rep, lo, hi, D, scale, scratch.data(),
                out + ((b * T + i) * N + n) * D);
    }
  });
}

}  // namespace cpu
}  // namespace ssd
