// Decoder: the Qwen3 / Qwen2 / Llama-3 causal language model in libtorch.
//
// Shape legend (suffixes on tensor names):
//   B batch, T new tokens, S key positions, H hidden_size, V vocab_size,
//   N attention heads, K key/value heads, D head_dim, I intermediate_size.
//
// Block (pre-norm):
//   x += o_proj(attention(rope(qk_norm(q)), rope(qk_norm(k)), v))   [qk_norm: qwen3, qwen3_moe]
//   x += down(silu(gate(rms(x))) * up(rms(x)))
// A qwen3_moe layer (ModelConfig::IsMoeLayer) replaces the last line with a
// dropless mixture of E experts, as transformers' Qwen3MoeSparseMoeBlock:
//   p = softmax(rms(x) W_router^T) in fp32, over all E experts
//   (w, e) = top-k of p; w /= sum(w) if norm_topk_prob; w cast to the dtype
//   x += sum over the k chosen experts, in ascending expert index, of
//        w_j * down_e(silu(gate_e(rms(x))) * up_e(rms(x)))
// computed grouped: each active expert runs one matmul over the tokens
// routed to it. No shared expert, no capacity, no jitter.
// GQA: query head n uses kv head n / (N / K), as transformers' repeat_kv.
//
// Parameters are stored fused (q|k|v rows in one matrix, gate|up in another)
// so a step runs one matmul where transformers runs three; HfNamedTensors()
// exposes Hugging Face names as views into them, so gradients and saves see
// the HF layout.
//
// Numerics: fp32 on CPU (optionally with bf16 weight matrices widened in the
// kernels, DecoderOptions::cpu_bf16_weights); on CUDA the weights may be bf16
// and softmax and norms run in fp32. Logits are returned as float32.
//
// Thread-safety: const methods may run concurrently; SetWeights-style mutation
// (Parameters() used by an optimizer) needs external synchronisation.
#ifndef SSD_COMMON_MODEL_DECODER_H_
#define SSD_COMMON_MODEL_DECODER_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/activation_checkpointing.h"
#include "common/model/checkpoint.h"
#include "common/model/kv_cache.h"
#include "common/model/layer_runner.h"
#include "common/model/model_config.h"
#include "common/model/router_trace.h"
#include "common/model/weight_layout.h"

namespace ssd {

namespace cpu {
struct DecodeProfile;
}  // namespace cpu

struct DecoderOptions {
  at::ScalarType dtype = at::kFloat;  // kFloat on CPU, kBFloat16 on CUDA
  at::Device device = at::kCPU;
  // CPU fp32 inference only: compute every matmul row by row in the same
  // order whatever the batch, so a sequence's logits (and so its sampled
  // tokens) are bitwise identical alone or in any batch. The decoder keeps a
  // second, packed copy of its matrices for it (cpu_packed_matmul.h), so
  // its weights take twice the memory. The sampling engine turns it on.
  bool batch_invariant = false;
  // ATen path (training): attend document by document over packed rows.
  // false always builds the full [B, T, T] mask: only the benchmark's
  // baseline turns it off.
  bool attention_by_document = true;
  // ATen path: a document longer than kFlashBlock attends blockwise, with
  // memory linear in its length (flash_attention.h). false builds each
  // document's full causal mask and scores: only the benchmark's baseline
  // turns it off.
  bool blockwise_attention = true;
  // CPU inference: keep the weight matrices (q|k|v, o, gate|up, down, the
  // embedding and lm_head) in bf16 and widen them in the kernels, which
  // halves the bytes a decode step streams; activations, norms, the KV cache
  // and all arithmetic stay fp32. The logits are exactly those of the fp32
  // model with its matrices rounded to bf16. Needs dtype kFloat on CPU and
  // batch_invariant; inference only (no gradients reach bf16 parameters).
  bool cpu_bf16_weights = false;
  // Benchmarks: where the one-region CPU decode step (batch_invariant, T ==
  // 1) accumulates its per-phase times. Not owned; nullptr: not measured.
  cpu::DecodeProfile* decode_profile = nullptr;
};

// Which keys each query may see in Forward().
//   position_ids_BT: RoPE positions; default 0..T-1 in every row.
//   segment_ids_BT:  query i sees key j iff j <= i and seg[i] == seg[j].
//                    Default: all zeros (plain causal). Packed sequences give
//                    each document its own id (and positions restarting at 0);
//                    right-padding gives pads a negative id.
struct AttentionLayout {
  at::Tensor position_ids_BT;
  at::Tensor segment_ids_BT;

  // Right-padded rows: row b holds lengths[b] real tokens followed by pads.
  static AttentionLayout RightPadded(const std::vector<int64_t>& lengths, int64_t T);
  // Packed rows: doc_lengths[b] lists the documents of row b in order; the
  // rest of the row is padding. Positions restart at 0 for every document.
  static AttentionLayout Packed(const std::vector<std::vector<int64_t>>& doc_lengths, int64_t T);
};

struct DecoderLayerWeights {
  int64_t index = 0;          // the layer's number
  at::Tensor input_norm;      // [H]
  at::Tensor qkv_weight;      // [(N + 2K) * D, H], rows q | k | v
  at::Tensor qkv_bias;        // [(N + 2K) * D] or undefined
  at::Tensor o_weight;        // [H, N * D]
  at::Tensor o_bias;          // [H] or undefined
  at::Tensor q_norm;          // [D] (qwen3) or undefined
  at::Tensor k_norm;          // [D] (qwen3) or undefined
  at::Tensor post_norm;       // [H]
  at::Tensor gate_up_weight;  // [2I, H], rows gate | up
  at::Tensor down_weight;     // [H, I]
  // A mixture-of-experts layer instead of gate_up/down (which are then
  // undefined); I_e = moe_intermediate_size. The router is applied in fp32.
  at::Tensor router_weight;    // [E, H]
  at::Tensor experts_gate_up;  // [E, 2 I_e, H], rows gate | up per expert
  at::Tensor experts_down;     // [E, H, I_e]
  // Inference decoders (batch_invariant, CPU fp32): the same matrices in
  // cpu_packed_matmul.h's layout, which every CPU matmul of theirs uses.
  at::Tensor qkv_packed, o_packed, gate_packed, up_packed, down_packed;
  // ... and per expert [E, packed elements].
  at::Tensor router_packed, experts_gate_packed, experts_up_packed, experts_down_packed;
  bool is_moe() const { return router_weight.defined(); }
};

class Decoder {
 public:
  // Reads config.json and the safetensors weights of a Hugging Face folder.
  static absl::StatusOr<std::unique_ptr<Decoder>> Load(const std::string& model_dir,
                                                       const DecoderOptions& options = {});
  // Builds from HF-named tensors (as LoadHfWeights returns them).
  static absl::StatusOr<std::unique_ptr<Decoder>> FromHfWeights(const ModelConfig& config,
                                                                const std::map<std::string, at::Tensor>& weights,
                                                                const DecoderOptions& options = {});
  // Random weights: matrices ~ N(0, init_std^2), norm weights ~ 1 + N(0, 0.1^2)
  // and biases ~ N(0, init_std^2), drawn from a CPU generator seeded by `seed`
  // in ExpectedWeights() order, so the same seed gives the same model anywhere.
  static absl::StatusOr<std::unique_ptr<Decoder>> RandomInit(const ModelConfig& config, uint64_t seed,
                                                             double init_std = 0.02,
                                                             const DecoderOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const DecoderOptions& options() const { return options_; }

  // Full forward over ids_BT (int64). Returns float32 logits_BTV.
  at::Tensor Forward(const at::Tensor& ids_BT, const AttentionLayout& layout = {}) const;
  // The final-normed hidden states [B, T, H], for callers that compute the
  // loss in chunks without materialising all logits. With gradients on,
  // the layers `checkpointing` names keep only their input and run again in
  // backward (activation_checkpointing.h); this decoder must then outlive
  // the backward. A `runner` (not owned; it must outlive the backward too)
  // runs every layer instead, told which ones checkpointing names
  // (layer_runner.h); the embedding and the final norm run as usual. A
  // `trace` (not owned; it must outlive the backward) sees every MoE
  // layer's routing and adds the load-balancing loss's gradient
  // (router_trace.h); its rows are B * T in order.
  at::Tensor ForwardHidden(const at::Tensor& ids_BT, const AttentionLayout& layout = {},
                           const ActivationCheckpointing& checkpointing = {}, LayerRunner* runner = nullptr,
                           RouterTrace* trace = nullptr) const;
  // lm_head over hidden [..., H] -> float32 logits [..., V].
  at::Tensor Logits(const at::Tensor& hidden) const;
  // The lm_head matrix [V, H] (the embedding when tied), for a loss that
  // applies it chunk by chunk.
  const at::Tensor& lm_head_weight() const { return lm_head_; }

  // Incremental decoding over a paged cache. Row i of ids_BT (right-padded)
  // appends its first num_new[i] tokens to sequence seqs[i] of the cache, at
  // positions cache.length(seqs[i]) onwards; each sequence must already have
  // reserved room for them (KVCache::Reserve). Returns float32 logits [B, V]
  // of each row's last new token (rows with num_new[i] == 0 return finite
  // values that mean nothing). Prefill is a call on empty sequences; a
  // decode step is a call with T == 1.
  at::Tensor Extend(KVCache& cache, const std::vector<int64_t>& seqs, const at::Tensor& ids_BT,
                    const std::vector<int64_t>& num_new) const;
  // Convenience for a cache without a budget: row b extends sequence b
  // (B == cache.max_seqs()), reserving blocks and growing the pool as needed.
  at::Tensor Extend(KVCache& cache, const at::Tensor& ids_BT, const std::vector<int64_t>& num_new) const;

  // A paged KV cache shaped for this model.
  std::unique_ptr<KVCache> NewCache(const KVCacheOptions& options) const;
  // `slots` sequences with room for `initial_capacity` positions each (the
  // convenience Extend grows it).
  std::unique_ptr<KVCache> NewCache(int64_t slots, int64_t initial_capacity) const;

  // Hugging Face names and tensors in ExpectedWeights() order; q/k/v,
  // gate/up and each expert's matrices are views into the fused
  // parameters. Tied lm_head is omitted. MoE layers in `layout`.
  NamedTensors HfNamedTensors(ExpertLayout layout = ExpertLayout::kPerExpert) const;
  // The same split the way sharded training groups parameters: one decoder
  // layer's tensors, and the rest (embedding, final norm, untied lm_head).
  NamedTensors HfNamedTensorsOfLayer(int64_t layer, ExpertLayout layout = ExpertLayout::kPerExpert) const;
  NamedTensors HfNamedTensorsOfRoot() const;
  // The leaf parameters an optimizer updates, with stable names.
  NamedTensors Parameters() const;

 private:
  Decoder(ModelConfig config, DecoderOptions options);
  at::Tensor Embed(const at::Tensor& ids_BT) const;
  // Extend() on CPU fp32 without autograd.
  at::Tensor ExtendKernels(KVCache& cache, const std::vector<int64_t>& seqs, at::Tensor x_BTH,
                           const std::vector<int64_t>& starts, const std::vector<int64_t>& num_new,
                           const std::vector<int32_t>& tables, int64_t max_blocks) const;

  const ModelConfig config_;
  const DecoderOptions options_;
  at::Tensor inv_freq_;  // [D/2] float32
  at::Tensor embed_;     // [V, H]
  std::vector<DecoderLayerWeights> layers_;
  at::Tensor final_norm_;      // [H]
  at::Tensor lm_head_;         // [V, H]; aliases embed_ when tied
  at::Tensor lm_head_packed_;  // inference decoders: packed lm_head
};

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_DECODER_H_
