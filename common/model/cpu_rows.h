// The arithmetic of the fp32 CPU inference path, one row (or one range of
// outputs) at a time: norms, q/k norm + RoPE, the SiLU gate, attention, and
// the matmul over row-major weights.
//
// Two drivers run these: at::parallel_for over rows (cpu_kernels.h, for the
// ATen-shaped calls of Forward) and the step that keeps one OpenMP region
// for a whole forward (cpu_decode_step.h, for decode and packed prefill).
// Every value either computes goes through the functions here (and the
// packed matmul, cpu_packed_matmul.h), defined once and compiled with
// -ffp-contract=off, so a value is bitwise the same whichever driver,
// thread split or batch produced it: that is what lets a sequence decoded
// step by step equal the same sequence re-prefilled after a preemption, and
// a row alone equal the row in a batch of 32.
//
// SkinnyRange, the matmul over row-major W, serves decoders without packed
// weights (not batch-invariant ones, which use cpu_packed_matmul.h). Every
// (row m, output o) dot product accumulates x[m, i] * W[o, i] in eight
// lanes, lane l taking i = l (mod 8) in order of i with a fused
// multiply-add, over the first in - in % 8 inputs; then the lanes are
// summed as ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), the remaining
// inputs are added one by one, and the bias last. The kernels tile rows and
// outputs to reuse loads, but no tile changes that order.
//
// Torch-free; all pointers are to contiguous row-major float buffers.
//
// Tuning notes (2026-12-06, a 2-core VM with AVX-512 and a 480 MiB L3,
// sampler_bench and model_bench --profile; tests/bench/results/):
// - zmm16-31: zeroing them when the AVX-512 kernels return (ZeroHighZmm)
//   took a batch-32 decode step from about 6,800 to 7,450 tok/s, the same
//   as compiling the decode step for AVX2 only. A test reads the registers
//   after each kernel. The token sampler's heap, SSE code called from an
//   AVX2 loop, had the same problem.
// - Attention in registers: the AVX2 attention kernel is a template on
//   D / 8 for head dims 32, 64 and 128, so its query and accumulators stay
//   in registers instead of going through the stack at every key. Batch-32
//   attention fell from ~846 to ~480 us per step.
#ifndef SSD_COMMON_MODEL_CPU_ROWS_H_
#define SSD_COMMON_MODEL_CPU_ROWS_H_

#include <cstdint>

namespace ssd {
namespace cpu {

// The vector kernels need AVX2 and FMA (CpuHasAvx2Fma, cpu_features.h).
// SkinnyRange requires them; the other functions have portable fallbacks.
// Whether the matmul kernels (SkinnyRange here, cpu_packed_matmul.h's) may
// use AVX-512 (same results, fewer instructions). $SSD_CPU_NO_AVX512=1
// turns it off, for comparison.
bool HaveAvx512();
// Zeroes zmm16-31. VZEROUPPER, which the compiler puts at the end of each
// AVX function, leaves them alone, and while their upper halves are not
// zero every SSE instruction that follows waits on them (the decode step's
// own code ran ~15% slower after the 24-accumulator tiles). An AVX-512
// kernel that uses them calls this on its way out. AVX-512 CPUs only.
void ZeroHighZmm();

// Strided view of a [B, heads, positions, D] float tensor whose last dim is
// contiguous: element (b, h, j, d) is at data[b*batch + h*head + j*pos + d].
// Paged (blocks != nullptr): positions live in blocks of block_size, and
// element (b, h, j, d) is at data[blk*batch + h*head + (j % block_size)*pos
// + d] with blk = blocks[b*blocks_stride + j / block_size].
struct HeadsView {
  const float* data = nullptr;
  int64_t batch = 0, head = 0, pos = 0;
  const int32_t* blocks = nullptr;
  int64_t blocks_stride = 0, block_size = 0;

  const float* Row(int64_t b, int64_t h, int64_t j) const {
    if (blocks == nullptr) return data + b * batch + h * head + j * pos;
    const int64_t blk = blocks[b * blocks_stride + j / block_size];
    return data + blk * batch + h * head + (j % block_size) * pos;
  }
};

// out[i] = w[i] * (x[i] / sqrt(mean(x^2) + eps)) for i < dim. `out` may
// alias `x`.
void RmsNormRow(const float* x, const float* w, float* out, int64_t dim, float eps);

// One fused projection row [(N + 2K) * D] (q heads, k heads, v heads), in
// place: optional per-head RMSNorm of q and k (pass nullptr to skip), then
// rotate-half RoPE of q and k at position `pos`: angle_i = pos * inv_freq[i]
// for i < D/2, x[i] <- x[i] cos - x[i + D/2] sin, x[i + D/2] <- x[i + D/2]
// cos + x[i] sin. `scratch` holds D floats.
void QkNormRopeRow(float* row, int64_t N, int64_t K, int64_t D, const float* q_norm, const float* k_norm, float eps,
                   int64_t pos, const float* inv_freq, float* scratch);

// The two steps of QkNormRopeRow for one head at a time: RopeTable fills
// table[0, D) with cos and sin of the angles at `pos`; NormRopeHead norms
// (w != nullptr) and rotates one head x[D] with it.
void RopeTable(int64_t pos, const float* inv_freq, int64_t D, float* table);
void NormRopeHead(float* x, const float* w, int64_t D, float eps, const float* table);

// out[i] = silu(gate[i]) * up[i] for i < n.
void SiluGateRow(const float* gate, const float* up, float* out, int64_t n);

// y[m * ldy + o] = x[m * in, +in) . W[o * in, +in) (+ b[o]) for m < M and
// o in [o_begin, o_end), in the order described above. Needs CpuHasAvx2Fma().
void SkinnyRange(const float* x, const float* W, const float* b, float* y, int64_t M, int64_t in, int64_t ldy,
                 int64_t o_begin, int64_t o_end);

// SkinnyRange with a chosen kernel, for tests and benchmarks: false (doing
// nothing) where this CPU lacks it.
enum class SkinnyIsa { kAvx2, kAvx512 };
bool SkinnyRangeWith(SkinnyIsa isa, const float* x, const float* W, const float* b, float* y, int64_t M, int64_t in,
                     int64_t ldy, int64_t o_begin, int64_t o_end);

// Softmax attention of one query row `q` [D] over keys and values (b, kv,
// j) for j in [lo, hi) of the views; scale multiplies the scores. An empty
// range writes zeros. `scratch` holds max(hi - lo, 1) + D floats.
void AttendRow(const float* q, const HeadsView& k, const HeadsView& v, int64_t b, int64_t kv, int64_t lo, int64_t hi,
               int64_t D, float scale, float* scratch, float* out);

}  // namespace cpu
}  // namespace ssd

#endif  // SSD_COMMON_MODEL_CPU_ROWS_H_
