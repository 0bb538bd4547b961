// Causal attention without the T×T score matrix: FlashAttention's
// algorithm (Dao et al., 2022; the backward of FlashAttention-2) on ATen
// ops, for training over long documents.
//
// Forward: the queries go in blocks of `block` rows; each block walks the
// key blocks up to its diagonal with an online softmax (a running row max
// m, row sum l and output accumulator, rescaled as each key block arrives),
// so the most it holds is one block × block score tile per head. It keeps
// the output and each row's logsumexp (m + log l) for backward.
// Backward: per tile, P = exp(S - logsumexp) is recomputed, and
//   dV += Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP - rowsum(dO ∘ O)),
//   dQ += dS K / √D,  dK += dSᵀ Q / √D.
// Memory is O(T·D) per head in both directions (the inputs, the output,
// the logsumexp and the gradients), against O(T²) for Attend().
//
// Numerics: scores, softmax and accumulators in fp32 whatever the input
// dtype; the output in v's dtype. The result equals Attend() with a causal
// mask up to float summation order. Deterministic on CPU at a fixed thread
// count, so activation checkpointing's recompute is bitwise.
//
// On CUDA with libtorch >= 2.0 the same call runs
// at::scaled_dot_product_attention (its flash or memory-efficient kernels).
//
// Shapes: N query heads, K kv heads (N a multiple of K: query head n reads
// kv head n / (N / K), as transformers' repeat_kv), L positions of one
// document, D head dim.
#ifndef SSD_COMMON_MODEL_FLASH_ATTENTION_H_
#define SSD_COMMON_MODEL_FLASH_ATTENTION_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace ssd {

// The query and key block of the CPU path. A document no longer than one
// block has the same memory bound either way, so the decoder attends to it
// with Attend().
inline constexpr int64_t kFlashBlock = 512;

// Causal self-attention of one document: q_1NLD [1, N, L, D], k_1KLD and
// v_1KLD [1, K, L, D]. Returns [1, L, N * D], as Attend() does. Gradients
// flow to q, k and v when they need them.
at::Tensor FlashAttention(const at::Tensor& q_1NLD, const at::Tensor& k_1KLD, const at::Tensor& v_1KLD,
                          int64_t block = kFlashBlock);

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_FLASH_ATTENTION_H_
