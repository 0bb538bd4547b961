// Weight matrices repacked for the batch-invariant CPU matmul of inference.
//
// y[m, o] = x[m, :] . W[o, :] (+ b[o]) for few rows (decode batches, prefill
// chunks) against a large W. W [out, in] is stored as panels of 16 outputs,
// each [in][16] (the last panel zero-padded), so a kernel step loads the
// weights of 16 consecutive outputs at one input i with one vector load and
// multiplies them by x[m, i] broadcast: no horizontal sums, and each loaded
// weight serves every row of the tile (6 rows x 64 outputs with AVX-512).
//
// The arithmetic of every (m, o) is fixed: starting from 0, for i = 0, 1,
// ..., in - 1 in order, acc <- fma(x[m, i], W[o, i], acc); then acc + b[o].
// Tiles, vector widths (AVX-512, AVX2, or scalar std::fma where the CPU has
// neither), thread splits and the number of rows change only which values
// are computed together, never how one is computed: a row's outputs are
// bitwise the same alone or in any batch, on any of these machines.
//
// Weights are fp32, or bf16 bits (the upper half of an fp32) widened exactly
// in the kernel: a bf16 matrix gives the fp32 results of its widened values.
//
// Torch-free; compiled with -ffp-contract=off.
//
// Tuning notes (tests/bench/results/):
// - Why panels: the row-major kernel (cpu_rows.h's SkinnyRange) needs one
//   horizontal sum per output, which at hidden 256 cost a fifth of its
//   instructions and held it to 78 GFLOP/s per core at 32 rows. The
//   broadcast-FMA tiles over panels run at 129-149 GFLOP/s (one core,
//   lm_head shape) and stream a batch-1 row at 38 GB/s per core instead of
//   20 (recorded 2026-12-05 with model_bench --profile).
// - The next weight group into L2: while one group of 4 panels computes,
//   the tiles ask for the next group's lines into L2, one line per kernel
//   step, and the first tile over a group prefetches its own lines ahead.
//   At 32 rows the row tiles are 6+6+6+6+4+4 (no tiles of 1-3 rows) instead
//   of 6x5+2. Together: the lm_head at 32 rows on one core went from ~110
//   to ~122 GFLOP/s (2026-12-06, a VM with a 480 MiB L3).
// - The AVX-512 tiles use zmm16-31 and clear them on the way out
//   (ZeroHighZmm, cpu_rows.h).
#ifndef SSD_COMMON_MODEL_CPU_PACKED_MATMUL_H_
#define SSD_COMMON_MODEL_CPU_PACKED_MATMUL_H_

#include <cstdint>

namespace ssd {
namespace cpu {

constexpr int64_t kPanel = 16;  // outputs per panel

// Elements of the packed form of an [out, in] matrix.
int64_t PackedElements(int64_t out, int64_t in);

// Packs W [out, in] (row-major) into `packed` (PackedElements(out, in)).
void PackMatrix(const float* W, int64_t out, int64_t in, float* packed);
void PackMatrix(const uint16_t* W, int64_t out, int64_t in, uint16_t* packed);

// A packed matrix; exactly one of f32 and bf16 is set.
struct PackedMatrix {
  const float* f32 = nullptr;
  const uint16_t* bf16 = nullptr;
  int64_t out = 0, in = 0;
};

// y[m * ldy + o] for m < M and o in [o_begin, o_end), in the order above.
// o_begin must be a multiple of kPanel. b may be nullptr.
void PackedMatmul(const float* x, int64_t M, const PackedMatrix& W, const float* b, float* y, int64_t ldy,
                  int64_t o_begin, int64_t o_end);

// PackedMatmul with a chosen kernel, for tests and benchmarks: false (doing
// nothing) where this CPU lacks it.
enum class PackedIsa { kAvx512, kAvx2, kScalar };
bool PackedMatmulWith(PackedIsa isa, const float* x, int64_t M, const PackedMatrix& W, const float* b, float* y,
                      int64_t ldy, int64_t o_begin, int64_t o_end);

}  // namespace cpu
}  // namespace ssd

#endif  // SSD_COMMON_MODEL_CPU_PACKED_MATMUL_H_
