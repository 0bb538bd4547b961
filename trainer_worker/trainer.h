// Trainer: data-parallel supervised fine-tuning of a Decoder on an
// SftDataset (SSD step 3), one instance per rank.
//
// One optimizer step s:
//   1. this rank runs its share of the global batch (BatchPlan::RankShare):
//      for each micro-batch, forward, token losses summed over target tokens,
//      divided by the global batch's target count (known from the plan, so
//      no collective is needed), backward (gradients accumulate);
//   2. gradients and the loss sum are all-reduced (Collective::AllReduceSum);
//   3. global-norm clipping, then AdamW with lr = LearningRate(schedule, s).
// The loss is therefore the mean over every target token of the global batch,
// whatever the number of ranks or micro-batches: DP=1 and DP=2 differ only by
// float summation order.
//
// Numerics: fp32 on CPU. On CUDA the forward runs under bf16 autocast while
// parameters, gradients and AdamW moments stay fp32 (master weights).
//
// Checkpoints (train_state.h) hold weights, AdamW moments, the step (which
// fixes the schedule and the data cursor) and the RNG state, so a resumed run
// reproduces an uninterrupted one bitwise on CPU (same thread count).
// Rank 0 writes checkpoints, metrics and the final model; all ranks compute
// identical updates, so their weights stay identical.
//
// Not thread-safe; one Trainer per rank (tests run several ranks as threads
// over InProcessCollective).
#ifndef SSD_TRAINER_WORKER_TRAINER_H_
#define SSD_TRAINER_WORKER_TRAINER_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/model/autocast.h"
#include "common/model/decoder.h"
#include "trainer_worker/adamw.h"
#include "trainer_worker/collective.h"
#include "trainer_worker/lr_schedule.h"
#include "trainer_worker/metrics.h"
#include "trainer_worker/packing.h"
#include "trainer_worker/sft_dataset.h"
#include "trainer_worker/sharded_model.h"
#include "trainer_worker/train_state.h"

namespace ssd {

struct TrainerOptions {
  std::string model_dir;      // HF folder: config.json, weights, tokenizer files
  std::string tokenizer_dir;  // default: model_dir
  std::string data_path;      // chat JSONL
  // Optional (rank_share.h): this rank's data_path holds only the examples
  // its micro-batches use, and this file gives every example's size.
  std::string rank_sizes_path;
  std::string out_dir;  // checkpoints/, metrics.jsonl, model/

  int64_t epochs = 1;
  int64_t max_steps = 0;       // stop after this many steps; 0 = all epochs
  int64_t max_seq_len = 2048;  // truncation limit and packed row length
  BatchPlanOptions batching;   // row_tokens is set from max_seq_len
  SftDatasetOptions data;      // max_seq_len and vocab_limit are filled in
  double lr = 1e-5;
  int64_t warmup_steps = 0;
  LrDecay decay = LrDecay::kCosine;
  double min_lr_ratio = 0.0;
  AdamWOptions adamw;
  double grad_clip = 1.0;  // global-norm clipping; 0 disables
  // Label smoothing in [0, 1): each target's loss is (1 - e) of its
  // cross-entropy plus e of the mean cross-entropy against every vocabulary
  // token, as PyTorch defines it. 0 is plain SFT, which SSD uses; the
  // tiny-code base recipe uses it to give the base a spread distractor tail.
  double label_smoothing = 0;
  // Which decoder layers keep only their input and recompute in backward
  // (activation_checkpointing.h). Memory, not numerics: on CPU the
  // gradients are bitwise the same, so a resumed run may change it.
  ActivationCheckpointing activation_checkpointing;
  // Which training state each rank holds only its share of
  // (sharding_mode.h, sharded_model.h). Every mode trains the weights of
  // kNone up to float summation order.
  ShardingMode sharding = ShardingMode::kNone;
  // The dtype sharded training gathers and computes parameters in: "fp32",
  // or "bf16" (mixed precision: fp32 masters, moments and gradient
  // reduction; the forward under autocast). bf16 needs sharding.
  std::string param_dtype = "fp32";
  // Sharded: run the layers' gathers and reduce-scatters on the
  // communication thread, overlapping compute (sharded_model.h). false
  // waits for each in place: the same result, for comparison.
  bool overlap_communication = true;
  // Mixture-of-experts models: the router's load-balancing loss added to
  // the objective (router_trace.h): "hf", "per_layer", "off", or "auto"
  // (the model file's choice: hf when its output_router_logits is true,
  // else off, as transformers trains). The coefficient; < 0 takes the
  // file's router_aux_loss_coef. Each micro-batch's aux loss is over its
  // real tokens; the step averages them over its micro-batches, as a
  // transformers Trainer does under gradient accumulation.
  std::string router_aux_loss = "auto";
  double router_aux_loss_coef = -1;
  // How the final model (<out>/model, ExportModel) stores a MoE layer's
  // experts: per expert (what transformers 4.x and vLLM read) or fused
  // (transformers 5; weight_layout.h).
  ExpertLayout export_expert_layout = ExpertLayout::kPerExpert;

  int64_t save_every = 0;  // checkpoint every N steps (0: only at the end)
  int keep_checkpoints = 2;
  bool resume = false;  // continue from <out>/checkpoints/latest if present

  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
  int threads = 0;             // intra-op threads; 0 leaves libtorch's setting
  double peak_flops = 0;       // per rank, for MFU; 0 omits MFU
  bool progress = true;        // progress line on stderr (rank 0)

  absl::Status Validate() const;
  // The folders and files named exist and are of the right kind (a model
  // folder with config.json, a tokenizer folder with tokenizer.json, the data
  // and rank-sizes files, an output path that is not a file). Cheap: stats
  // only, so a command runs it before any slow step.
  absl::Status CheckInputFiles() const;
};

class Trainer {
 public:
  // Loads the model (or, with resume, the latest checkpoint under out_dir),
  // the tokenizer and the data. `collective` is not owned and must outlive
  // the trainer; nullptr means a single process.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const TrainerOptions& options, Collective* collective);
  // From an in-memory model and dataset (tests, benchmarks); tokenizer files
  // are copied into checkpoints only if options.tokenizer_dir is set. With
  // resume, the model's weights are replaced by the latest checkpoint's.
  static absl::StatusOr<std::unique_ptr<Trainer>> FromModel(const TrainerOptions& options,
                                                            std::unique_ptr<Decoder> model, SftDataset dataset,
                                                            Collective* collective);
  ~Trainer();

  // Trains the remaining steps, checkpointing every save_every steps and at
  // the end, then writes the final model to <out>/model (rank 0).
  absl::Status Run();
  // One optimizer step (no checkpoint, no metrics file).
  absl::StatusOr<StepMetrics> Step();
  // Writes a checkpoint of the current state: rank 0 alone (a no-op
  // elsewhere), or under sharding every rank its shard (collective:
  // sharded_checkpoint.h).
  absl::Status SaveCheckpoint();
  // Writes the model as a Hugging Face folder at `dir` (rank 0 writes;
  // under sharding every rank must call it, and the folder is written one
  // unit per file as the units are gathered).
  absl::Status ExportModel(const std::string& dir);

  int64_t step() const { return step_; }
  int64_t total_steps() const { return total_steps_; }
  const Decoder& model() const { return *model_; }
  const SftDataset& dataset() const { return dataset_; }
  const BatchPlan& plan() const { return plan_; }
  // nullptr unless options.sharding is set.
  ShardedModel* sharded() { return sharded_.get(); }
  // Collective under sharding (every rank calls it): the full parameters
  // under their Parameters() names, fresh CPU tensors. Unsharded, clones of
  // this rank's.
  absl::StatusOr<NamedTensors> FullParameters();
  // Bytes this rank holds for parameters, gradients and the optimizer
  // between steps (ShardedModel::ModelStateBytes under sharding).
  int64_t ModelStateBytes() const;

 private:
  Trainer(const TrainerOptions& options, std::unique_ptr<Decoder> model, SftDataset dataset, BatchPlan plan,
          Collective* collective);
  absl::Status Restore(const std::string& checkpoint_dir);
  nlohmann::ordered_json Recipe() const;
  TrainState CurrentState() const;
  absl::StatusOr<StepMetrics> StepImpl();

  const TrainerOptions options_;
  std::unique_ptr<Decoder> model_;
  const SftDataset dataset_;
  const BatchPlan plan_;
  Collective* const collective_;
  SingleProcessCollective single_;
  NamedTensors params_;
  std::unique_ptr<AdamW> optimizer_;       // sharding none
  std::unique_ptr<ShardedModel> sharded_;  // otherwise
  LrScheduleOptions schedule_;
  int64_t total_steps_ = 0;
  int64_t step_ = 0;
  double elapsed_s_ = 0;
  // MFU's denominator per rank: options_.peak_flops, raised to what a step
  // actually achieved if that was more (the peak was measured low), so MFU
  // never reads above 100%.
  double peak_flops_ = 0;
  bool peak_raised_ = false;
  RouterAuxLoss aux_loss_ = RouterAuxLoss::kOff;
  double aux_coef_ = 0;
};

// Sum over positions with target != kIgnoreTarget of the cross-entropy of
// model.Logits(hidden) against the target. hidden_BTH: ForwardHidden output;
// targets_BT: int64. Positions without a target contribute neither to the
// sum nor to its gradient (their hidden rows are never projected). The
// logits exist one chunk at a time (chunked_loss.h). `label_smoothing` as
// TrainerOptions::label_smoothing.
at::Tensor TokenLossSum(const Decoder& model, const at::Tensor& hidden_BTH, const at::Tensor& targets_BT,
                        double label_smoothing = 0);

// Forward of one micro-batch: ids and attention layout as tensors on `device`.
// The autocast a training forward of `model` runs under: bf16 on CUDA, and
// on CPU when the parameters are bf16 (sharded mixed precision).
Autocast ForwardAutocast(const Decoder& model);

// `runner` (layer_runner.h) runs the decoder's layers when set; `trace`
// (router_trace.h, rows mb.rows * mb.cols) sees a MoE model's routing.
at::Tensor MicroBatchLossSum(const Decoder& model, const MicroBatch& mb, BatchingMode mode, double label_smoothing = 0,
                             const ActivationCheckpointing& checkpointing = {}, LayerRunner* runner = nullptr,
                             RouterTrace* trace = nullptr);

// bool [rows * cols]: which positions of `mb` hold real tokens (not pads).
at::Tensor RealTokenMask(const MicroBatch& mb);

// The aux loss and coefficient `options` ask of `config` ("auto" and a
// negative coefficient resolved from the model file).
absl::StatusOr<std::pair<RouterAuxLoss, double>> ResolveRouterAuxLoss(const TrainerOptions& options,
                                                                      const ModelConfig& config);

// Makes glibc malloc keep freed memory for reuse (largest mmap threshold,
// no trimming) instead of returning it to the kernel: a training step
// allocates and frees the same activation sizes every micro-batch, and
// fresh pages cost page faults and zeroing each time. Process-wide; the
// `ssd train` command and the benchmark call it once at start-up.
void KeepFreedMemoryForReuse();

// The fp32 matmul peak of this process with its current thread count, the
// denominator of MFU.
struct MatmulPeak {
  double flops = 0;         // the best sample: the peak
  double median_flops = 0;  // of the samples of the last round
  int samples = 0;
  // Non-empty when the samples disagree so much that the machine was busy
  // while measuring (the peak then reads low and MFU high).
  std::string warning;
};

// Times 1024 x 1024 at::mm products in rounds of `samples_per_round`, up to
// `max_rounds` rounds 50 ms apart, keeping the best sample overall; it stops
// early once a round's median is within 10% of the best (the machine is
// quiet enough for the best to be the peak).
MatmulPeak MeasureMatmulPeak(int samples_per_round = 6, int max_rounds = 4);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_TRAINER_H_
