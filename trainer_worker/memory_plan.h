// The memory planner behind `ssd plan`: bytes per trainer rank for a model
// config and a training setup, before anything is loaded. Torch-free.
//
// It prices what ssd's trainer allocates (trainer.h, sharded_model.h), not
// an idealised stack. The trainer keeps fp32 parameters, fp32 gradients and
// fp32 AdamW moments on CPU and on GPU (where the forward runs under bf16
// autocast), plus a parameter-sized scratch for the update, so per
// parameter with d ranks (S: the 1/d shard, U: the unit's whole padded
// size; see sharded_model.h for units):
//
//   none       4 params + 4 grads + 12 (m, v, scratch)       = 20
//   optimizer  4 params + 4 grads + 12/d                      = 8 + 12/d
//   gradients  4 params + 4/d grads + 12/d (+ the root's grads whole)
//   full       4/d master + 4/d grads + 12/d = 20/d (+ the root's grads
//              whole, and during a step the root's parameters and up to two
//              layers' parameters and gradient buffers gathered)
//
// With `param_dtype` bf16 (sharded only) the parameters kept whole or
// gathered take 2 bytes, the root's gradients too, and the fp32 masters and
// gradient shards are tensors of their own (4/d each): optimizer becomes
// 4 + 20/d, full 20/d plus bf16 gathered layers.
//
// The ZeRO paper's figures (bf16 parameters and gradients, fp32 master
// weights and Adam: 16, 4 + 12/d, 2 + 14/d, 16/d) are given beside them as
// `reference_bytes`: they assume bf16 parameter buffers, which ssd's GPU
// path does not keep yet.
//
// Activations, per micro-batch of `micro_batch_tokens` tokens: every layer
// keeps its activations (about 6H + 2(N+2K)D + (N+K)D + 2ND + 4I elements a
// token in the ATen layer; ActivationTerms), or with checkpointing only its
// input (H), and the layer in backward adds its recompute and its
// gradients. Logits: the chunked loss holds one chunk (LossChunkRows) of
// fp32 logits and its gradient. Attention: documents longer than 512 tokens
// attend in 512 x 512 blocks per head; shorter ones build their scores
// whole. The loss's backward is over before a layer's begins, so the total
// holds the larger of the two, not both ("not at once").
//
// Mixture of experts: every expert is a parameter like any other (sharded
// with its layer's unit), so model state follows the total parameters; a
// token's activations follow the active ones: its k experts' inputs, gate|up
// and outputs before and after weighting (k(3H + 2I_e); grouped_experts.h
// recomputes SiLU in backward) and the router's fp32 softmax (2E) in place
// of the dense MLP's 4I.
//
// Runtime: a trainer process on CPU holds about 0.4 GiB before its model
// (libtorch, OpenBLAS and Gloo buffers, the data; measured by trainer_bench
// --sharding); on GPU the CUDA context and NCCL's buffers, taken as 1 GiB
// (not measured here).
#ifndef SSD_TRAINER_WORKER_MEMORY_PLAN_H_
#define SSD_TRAINER_WORKER_MEMORY_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/activation_checkpointing.h"
#include "common/model/model_config.h"
#include "common/model/sharding_mode.h"

namespace ssd {

struct MemoryPlanOptions {
  int world_size = 1;
  ShardingMode sharding = ShardingMode::kNone;
  int64_t max_seq_len = 2048;
  int64_t micro_batch_tokens = 2048;
  ActivationCheckpointing activation_checkpointing;
  // Bytes of an activation element: 4 on CPU; on GPU under bf16 autocast
  // the matmul outputs are 2 and the residual stream stays 4, so "bf16"
  // prices activations at 3 on average.
  std::string dtype = "fp32";  // fp32 or bf16
  // The dtype sharded parameters are gathered in (TrainerOptions::param_dtype).
  std::string param_dtype = "fp32";
  // cpu or cuda: what the process itself takes (runtime, below).
  std::string device = "cpu";
  double device_memory_gib = 0;  // 0: do not judge fit

  absl::Status Validate() const;
};

struct ParameterCounts {
  int64_t total = 0;
  int64_t active = 0;     // used by one token: of a MoE layer, the router and k experts
  int64_t per_layer = 0;  // the largest decoder layer (a MoE layer's, with all its experts)
  int64_t root = 0;       // embedding, final norm, untied lm_head
  std::vector<int64_t> layers;  // each decoder layer's
};

ParameterCounts CountParameters(const ModelConfig& config);

// Activation elements a token (x micro_batch_tokens x bytes an element),
// as the trainer's layer keeps them for backward (memory_plan.cc names each
// term; memory_plan_torch_test holds them to the allocator's count).
struct ActivationTerms {
  double layer = 0;       // one layer's graph, gradients on
  double checkpoint = 0;  // a checkpointed layer: its input
  double backward = 0;    // a layer's backward, beside what it kept
  double outside = 0;     // the embedding, final norm, loss rows, RoPE tables
  // A mixture-of-experts layer's graph and backward (qwen3_moe), in place
  // of `layer` and `backward` for the layers IsMoeLayer names.
  double moe_layer = 0;
  double moe_backward = 0;
};
ActivationTerms ActivationTermsOf(const ModelConfig& config);

// Rows per chunk of the chunked loss (chunked_loss.h) for n rows: the
// chunk's fp32 logits take at most as many bytes as the rows' hidden states
// ([n, H]) or 16 MiB, whichever is more (so the loss never needs more than
// the activations it reads, and a small model's chunk stays in the reused
// heap), and at least 64 rows, so each chunk's matmul stays efficient.
int64_t LossChunkRows(int64_t n, int64_t hidden, int64_t vocab);

struct MemoryPlan {
  ParameterCounts params;
  // Per rank, bytes.
  int64_t parameters = 0;     // as kept between steps (full: the master shard)
  int64_t gradients = 0;      // gradient buffers and shards
  int64_t optimizer = 0;      // moments and the update's scratch
  int64_t gathered = 0;       // full: root and up to two layers gathered, their gradient buffer
  int64_t activations = 0;    // saved for backward, one micro-batch
  int64_t logits = 0;         // the chunked loss's working set
  int64_t attention = 0;      // attention scores of one layer
  // Subtracted from the sum: the smaller of the loss's working set and a
  // layer's backward (with attention's tiles), which never coexist.
  int64_t not_at_once = 0;
  int64_t communication = 0;  // all-reduce buckets (none); two layers' reduce-scatter buffers (gradients, full)
  int64_t runtime = 0;        // the process: libtorch, Gloo, allocator slack (cpu); CUDA context, NCCL (cuda)
  int64_t total = 0;
  int64_t reference_model_state = 0;  // the ZeRO paper's bf16 figure, for comparison
  bool judged = false;
  bool fits = true;
  std::vector<std::string> advice;  // when it does not fit: changes that would make it
};

absl::StatusOr<MemoryPlan> PlanMemory(const ModelConfig& config, const MemoryPlanOptions& options);

// A table for people and a JSON object for programs.
std::string MemoryPlanText(const ModelConfig& config, const MemoryPlanOptions& options, const MemoryPlan& plan);
std::string MemoryPlanJson(const ModelConfig& config, const MemoryPlanOptions& options, const MemoryPlan& plan);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_MEMORY_PLAN_H_
