// Attention over the decoder's layouts, on ATen ops: a masked (full)
// attention with GQA, and the run-wise attention of packed rows, where each
// document attends only within itself. The CPU inference kernels
// (cpu_decode_step.h) have their own; these serve training and the
// reference path. Shapes: B batch, N query heads, K kv heads, T queries,
// S keys, D head dim.
#ifndef SSD_COMMON_MODEL_ATTENTION_H_
#define SSD_COMMON_MODEL_ATTENTION_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace ssd {

// Attention of q_BNTD over k_BKSD / v_BKSD (N a multiple of K: query head
// n reads kv head n / (N / K)) where allowed_BTS says which keys each query
// sees. A query that sees no key (a padded one) gets a uniform average
// instead of NaN. Returns [B, T, N*D].
at::Tensor Attend(const at::Tensor& q_BNTD, const at::Tensor& k_BKSD, const at::Tensor& v_BKSD,
                  const at::Tensor& allowed_BTS);

// When every segment id forms one contiguous run in its row (packing and
// right-padding both do): each query's visible keys as the range
// [run start, i + 1), flattened over [B, T]. False when some id comes back
// after another.
bool KeyRangesFromSegments(const at::Tensor& seg_BT, std::vector<int64_t>* begin, std::vector<int64_t>* end);

// The contiguous runs of equal segment id in each row, as (start, length)
// pairs: one per document of a packed row, plus one per padding run. Empty
// when some id comes back after another (then only a full mask is right).
std::vector<std::vector<std::pair<int64_t, int64_t>>> SegmentRuns(const at::Tensor& seg_BT);

// Attention when every row is a sequence of causal documents (`runs` from
// SegmentRuns): each run attends only within itself, so the work is the sum
// of the squared run lengths instead of T^2 per row, and no [B, T, T] mask
// is built. A run longer than kFlashBlock goes through FlashAttention
// (flash_attention.h), so its memory is linear in its length; shorter ones
// through Attend with a causal mask of at most kFlashBlock². The same result
// as Attend with the block-diagonal causal mask (the masked keys weigh
// exactly 0 there), up to float summation order. Returns [B, T, N*D].
// blockwise false sends every run through Attend (the benchmark's
// baseline).
at::Tensor AttendRuns(const at::Tensor& q_BNTD, const at::Tensor& k_BKTD, const at::Tensor& v_BKTD,
                      const std::vector<std::vector<std::pair<int64_t, int64_t>>>& runs, bool blockwise = true);

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_ATTENTION_H_
