// One forward step of the fp32 CPU decoder over packed rows, in a single
// OpenMP parallel region. Each row is one token appended to a sequence of
// the paged KV cache: a decode step has one row per sequence; a prefill
// packs every prompt's tokens as consecutive rows (no padding to the longest
// prompt).
//
// The per-operation kernel path (cpu_kernels.h) forks and joins the thread
// team for each of about eight operations per layer and goes through ATen
// for allocations and residual adds; at batch 1 on a small model that
// overhead is a large part of a step. Here the team is forked once per
// step and the phases of a layer are separated by barriers:
//
//   per layer:  norm + chunks of q|k|v outputs
//               | per (row, kv head): q/k norm + RoPE, K/V into the cache
//               | per (row, kv head): attention of the kv head's query heads
//               | chunks of o_proj outputs, added to the residual
//               | norm + chunks of gate and up outputs (the same units), SiLU
//               | chunks of down outputs, added to the residual
//   or, for a mixture-of-experts layer:
//               | norm + chunks of the router's outputs
//               | per row: softmax, top-k (moe_routing.h)
//               | every thread groups the assignments by expert; the rows
//                 routed to each expert copied together
//               | chunks of (active expert, gate and up units), SiLU
//               | chunks of (active expert, down outputs)
//               | per row: its k experts' outputs, weighted, summed in
//                 ascending expert order (as transformers' index_add_),
//                 added to the residual
//   Only the experts some row chose are read: at batch 1, k of E.
//   then:       final norm + chunks of the vocabulary, for the rows whose
//               logits are wanted
//
// A matrix's outputs are handed out in chunks from a shared counter, so a
// thread the machine slows down takes fewer of them rather than holding
// the others at the next barrier.
//
// Each weight matrix streams from memory once per step for up to 64 rows.
// Every value is computed by cpu_rows.h's and cpu_packed_matmul.h's
// functions, so the logits are bitwise those of the per-operation path and
// do not depend on the batch, the packing of rows or the thread count.
//
// Torch-free. Runs on any x86-64 CPU: where AVX2 is missing, attention and
// SiLU take portable loops (with their own rounding) and the matmuls the
// scalar kernel (with the same results).
//
// Tuning notes (model_bench --profile on the 12.9M-parameter bench model,
// fp32, batch 1, recorded 2026-12-05; tests/bench/results/):
// - With eight at::parallel_for per layer, a batch-1 step forked the
//   thread team about 50 times and went through ATen for the residual
//   adds: 202 tok/s. One region per step with barriers between phases,
//   then outputs handed out in chunks from a shared counter, brought it to
//   ~700 tok/s. A static split of the outputs left one thread waiting at
//   every barrier: 11% of the time was in libgomp's spin.
// - Attention's per-key block lookup divided by the block size. Walking
//   the blocks instead, and summing eight keys' lanes at once, left it
//   bound by reading the KV rows.
// - The last step was the packed weight layout (cpu_packed_matmul.h).
// - Where the time goes now (2026-12-05, 2 cores): final norm +
//   lm_head 54%, norm + gate_up + SiLU 18%, down 8%, norm + qkv 7%,
//   attention 4%, o_proj 4%, q/k norm + RoPE + KV write 2%, outside the
//   region 2% (model_bench_epyc-2c_2026-12-05.md). At batch 32 (2026-12-06,
//   a 480 MiB-L3 VM): lm_head 44%, gate_up 21%, attention 11%, down 9%
//   (model_bench_amx-480m-2c_2026-12-06.md).
#ifndef SSD_COMMON_MODEL_CPU_DECODE_STEP_H_
#define SSD_COMMON_MODEL_CPU_DECODE_STEP_H_

#include <array>
#include <cstdint>
#include <vector>

#include "common/model/cpu_packed_matmul.h"

namespace ssd {
namespace cpu {

// One layer's tensors, as in DecoderLayerWeights (the matrices packed, see
// cpu_packed_matmul.h); optional ones nullptr.
struct DecodeLayer {
  const float* input_norm = nullptr;  // [H]
  PackedMatrix qkv_weight;            // [(N + 2K) * D, H]
  const float* qkv_bias = nullptr;    // [(N + 2K) * D] or nullptr
  PackedMatrix o_weight;              // [H, N * D]
  const float* o_bias = nullptr;      // [H] or nullptr
  const float* q_norm = nullptr;      // [D] or nullptr
  const float* k_norm = nullptr;      // [D] or nullptr
  const float* post_norm = nullptr;   // [H]
  PackedMatrix gate_weight;           // [I, H]
  PackedMatrix up_weight;             // [I, H]
  PackedMatrix down_weight;           // [H, I]
  // A mixture-of-experts layer (experts > 0) runs these instead of the
  // gate, up and down above. Each expert's matrices are packed on their own.
  int64_t experts = 0, top_k = 0, expert_intermediate = 0;
  bool norm_topk_prob = false;
  PackedMatrix router;                                // [E, H]
  std::vector<PackedMatrix> expert_gate, expert_up;   // [I_e, H] each
  std::vector<PackedMatrix> expert_down;              // [H, I_e] each
  float* k_cache = nullptr;           // pool [blocks, K, block_size, D]
  float* v_cache = nullptr;
};

struct DecodeModel {
  int64_t hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, intermediate = 0, vocab = 0;
  float eps = 1e-6f;
  const float* inv_freq = nullptr;  // [D / 2]
  std::vector<DecodeLayer> layers;
  const float* final_norm = nullptr;  // [H]
  PackedMatrix lm_head;               // [V, H]
};

// The rows of one step: row r appends its token at positions[r] to the
// sequence whose blocks are block_tables[r * max_blocks, +max_blocks) (rows
// of one sequence repeat its table), which must already cover it. A row
// attends to positions [0, positions[r]] of its sequence: the earlier rows
// of a packed prompt included. logit_rows lists the rows whose logits are
// computed (num_logits of them; nullptr: every row).
struct DecodeBatch {
  int64_t rows = 0;
  const int64_t* positions = nullptr;
  const int32_t* block_tables = nullptr;
  int64_t max_blocks = 0;
  int64_t block_size = 0;
  const int64_t* logit_rows = nullptr;
  int64_t num_logits = 0;
};

// Wall time per phase, accumulated by the first thread over the steps run
// with it (each phase ends at its barrier, so a thread's wait for a slower
// one counts in the phase it waits in).
struct DecodeProfile {
  enum Phase { kQkv, kRope, kAttention, kOProj, kRouter, kGateUp, kDown, kLmHead, kNumPhases };
  static const char* Name(int phase);
  std::array<double, kNumPhases> seconds{};
  int64_t steps = 0;
};

// x_BH holds the rows' token embeddings [rows, H] and is overwritten with
// the residual stream; logits_BV [rows or num_logits, V] receives the
// logits, in the order of logit_rows. Runs on `threads` OpenMP threads (1
// inside another parallel region).
void DecodeStep(const DecodeModel& model, const DecodeBatch& batch, float* x_BH, float* logits_BV, int threads,
                DecodeProfile* profile = nullptr);

}  // namespace cpu
}  // namespace ssd

#endif  // SSD_COMMON_MODEL_CPU_DECODE_STEP_H_
