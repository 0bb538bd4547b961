// The SFT loss without the [tokens, V] logits: the lm_head and the
// cross-entropy run over chunks of tokens, and backward recomputes each
// chunk's logits, so the most logits memory ever holds is one chunk's
// (plus its softmax in backward), whatever the sequence length (or, below
// kRecomputeLogitsAboveBytes in all, the chunks keep their graphs). At 65,536
// tokens and Qwen3's 151,936-token vocabulary the full fp32 logits are
// 40 GB; a chunk of LossChunkRows() is a few hundred MB.
//
// The value is the sum over the rows of PyTorch's cross_entropy with
// `label_smoothing` (each target's loss is (1 - e) of its negative
// log-likelihood plus e of the mean negative log-likelihood over the whole
// vocabulary), to float rounding the unchunked loss; the gradients are
// PyTorch's own cross-entropy and linear backward, chunk by chunk.
//
// Shapes: n rows (the target tokens), H hidden, V vocabulary.
#ifndef SSD_TRAINER_WORKER_CHUNKED_LOSS_H_
#define SSD_TRAINER_WORKER_CHUNKED_LOSS_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "trainer_worker/memory_plan.h"

namespace ssd {

// Rows per chunk: LossChunkRows (memory_plan.h, torch-free, so `ssd plan`
// prices the same chunks).

// Below this many bytes of fp32 logits for all rows, the chunks keep their
// log-softmax for backward instead of recomputing: the recompute is one more
// lm_head matmul, which on a small model with a large vocabulary is a fifth
// of a training step, and 256 MiB is nothing next to the weights and
// moments of any model that needs this. Above it (Qwen3-4B passes it at
// ~440 target tokens), at most one chunk's logits exist.
inline constexpr int64_t kRecomputeLogitsAboveBytes = int64_t{256} << 20;

// Σ_rows cross_entropy(hidden_nH · weight_VH^T, targets_n), as a float32
// scalar. hidden_nH and weight_VH may need gradients (both get them);
// targets_n (int64) are all real targets (select the rows before calling).
// With gradients on and n · V · 4 > recompute_above_bytes, only hidden_nH,
// weight_VH and targets_n are kept for backward, which recomputes each
// chunk (on CUDA under the forward's autocast setting); otherwise each
// chunk keeps its own graph. chunk_rows <= 0: LossChunkRows().
at::Tensor ChunkedCrossEntropySum(const at::Tensor& hidden_nH, const at::Tensor& weight_VH, const at::Tensor& targets_n,
                                  double label_smoothing, int64_t chunk_rows = 0,
                                  int64_t recompute_above_bytes = kRecomputeLogitsAboveBytes);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_CHUNKED_LOSS_H_
