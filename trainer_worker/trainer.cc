#include "trainer_worker/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <glog/logging.h>
#include <malloc.h>
#include <sys/stat.h>
#include <torch/version.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/model/autocast.h"
#include "common/model/checkpoint_files.h"
#include "common/model/device.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "trainer_worker/chunked_loss.h"
#include "trainer_worker/rank_share.h"
#include "trainer_worker/sharded_checkpoint.h"

namespace ssd {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string CheckpointsDir(const TrainerOptions& o) { return JoinPath(o.out_dir, "checkpoints"); }

// (query, key) pairs a causal mask lets through, summed over documents.
double AttentionPairs(const MicroBatch& mb) {
  double pairs = 0;
  for (const auto& row : mb.doc_lengths) {
    for (int64_t len : row) pairs += 0.5 * static_cast<double>(len) * static_cast<double>(len + 1);
  }
  return pairs;
}

absl::Status TorchError(const char* what, const c10::Error& e) {
  return absl::InternalError(absl::StrCat(what, ": ", e.what_without_backtrace()));
}

}  // namespace

absl::Status TrainerOptions::Validate() const {
  if (out_dir.empty()) return absl::InvalidArgumentError("out_dir (--out): required");
  if (epochs < 1) return absl::InvalidArgumentError(absl::StrCat("epochs: must be >= 1, got ", epochs));
  if (max_steps < 0) return absl::InvalidArgumentError(absl::StrCat("max_steps: must be >= 0, got ", max_steps));
  if (max_seq_len < 2) return absl::InvalidArgumentError(absl::StrCat("max_seq_len: must be >= 2, got ", max_seq_len));
  if (activation_checkpointing.every < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("activation_checkpointing: every must be >= 0, got ", activation_checkpointing.every));
  }
  BatchPlanOptions b = batching;
  b.row_tokens = max_seq_len;
  RETURN_IF_ERROR(b.Validate());
  LrScheduleOptions lr_opts;
  lr_opts.peak_lr = lr;
  lr_opts.warmup_steps = warmup_steps;
  lr_opts.min_lr_ratio = min_lr_ratio;
  RETURN_IF_ERROR(lr_opts.Validate());
  RETURN_IF_ERROR(adamw.Validate());
  if (!(grad_clip >= 0)) return absl::InvalidArgumentError(absl::StrCat("grad_clip: must be >= 0, got ", grad_clip));
  if (!(label_smoothing >= 0 && label_smoothing < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("label_smoothing: must be in [0, 1), got ", label_smoothing));
  }
  if (param_dtype != "fp32" && param_dtype != "bf16") {
    return absl::InvalidArgumentError(
        absl::StrCat("param_dtype (--param-dtype): must be fp32 or bf16, got \"", param_dtype, "\""));
  }
  if (param_dtype == "bf16" && sharding == ShardingMode::kNone) {
    return absl::InvalidArgumentError(
        "param_dtype (--param-dtype) bf16 needs --sharding optimizer, gradients or full (the sharded model keeps the "
        "fp32 master weights)");
  }
  if (save_every < 0) return absl::InvalidArgumentError("save_every: must be >= 0");
  if (keep_checkpoints < 1) return absl::InvalidArgumentError("keep_checkpoints: must be >= 1");
  if (threads < 0) return absl::InvalidArgumentError("threads: must be >= 0");
  if (router_aux_loss != "auto") RETURN_IF_ERROR(ParseRouterAuxLoss(router_aux_loss).status());
  if (!std::isfinite(router_aux_loss_coef)) {
    return absl::InvalidArgumentError("router_aux_loss_coef: must be a finite number");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<RouterAuxLoss, double>> ResolveRouterAuxLoss(const TrainerOptions& options,
                                                                      const ModelConfig& config) {
  RouterAuxLoss loss = config.moe.output_router_logits ? RouterAuxLoss::kHf : RouterAuxLoss::kOff;
  if (options.router_aux_loss != "auto") {
    ASSIGN_OR_RETURN(loss, ParseRouterAuxLoss(options.router_aux_loss));
  }
  const double coef = options.router_aux_loss_coef >= 0 ? options.router_aux_loss_coef : config.moe.router_aux_loss_coef;
  if (config.num_moe_layers() == 0) return std::make_pair(RouterAuxLoss::kOff, 0.0);
  return std::make_pair(loss, coef);
}

namespace {

absl::Status NeedFolderWith(const std::string& flag, const std::string& dir, const std::string& file,
                            const std::string& what) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", dir, ": no such folder"));
  if (!S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(flag, " ", dir, ": not a folder"));
  if (!PathExists(JoinPath(dir, file))) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", dir, ": no ", file, " (", what, ")"));
  }
  return absl::OkStatus();
}

absl::Status NeedFile(const std::string& flag, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": no such file"));
  if (S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": a folder, not a file"));
  if (::access(path.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": not readable"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status TrainerOptions::CheckInputFiles() const {
  if (model_dir.empty()) return absl::InvalidArgumentError("--model: required");
  if (data_path.empty()) return absl::InvalidArgumentError("--data: required");
  const std::string model = ResolveModelDir(model_dir);
  RETURN_IF_ERROR(NeedFolderWith("--model", model, "config.json", "not a Hugging Face model folder"));
  const std::string flag = tokenizer_dir.empty() ? "--model" : "--tokenizer";
  const std::string tokenizer = tokenizer_dir.empty() ? model : tokenizer_dir;
  RETURN_IF_ERROR(NeedFolderWith(flag, tokenizer, "tokenizer.json", "the tokenizer; --tokenizer names another folder"));
  RETURN_IF_ERROR(NeedFolderWith(flag, tokenizer, "tokenizer_config.json", "the chat template"));
  RETURN_IF_ERROR(NeedFile("--data", data_path));
  if (!rank_sizes_path.empty()) RETURN_IF_ERROR(NeedFile("--rank-sizes", rank_sizes_path));
  struct stat st {};
  if (!out_dir.empty() && ::stat(out_dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("--out ", out_dir, ": a file, not a folder"));
  }
  return absl::OkStatus();
}

Autocast ForwardAutocast(const Decoder& model) {
  // bf16 autocast around the CUDA forward (fp32 parameters stay the
  // masters), and around a CPU forward whose parameters are gathered in
  // bf16 (sharded_model.h).
  if (model.options().device.is_cuda()) return Autocast::kCuda;
  return model.lm_head_weight().scalar_type() == at::kFloat ? Autocast::kOff : Autocast::kCpu;
}

at::Tensor TokenLossSum(const Decoder& model, const at::Tensor& hidden_BTH, const at::Tensor& targets_BT,
                        double label_smoothing) {
  at::Tensor targets = targets_BT.reshape({-1}).to(hidden_BTH.device());
  at::Tensor idx = (targets != kIgnoreTarget).nonzero().squeeze(1);
  at::Tensor h = hidden_BTH.reshape({-1, hidden_BTH.size(-1)}).index_select(0, idx);
  return ChunkedCrossEntropySum(h, model.lm_head_weight(), targets.index_select(0, idx), label_smoothing);
}

at::Tensor RealTokenMask(const MicroBatch& mb) {
  at::Tensor real = at::zeros({mb.rows, mb.cols}, at::kBool);
  for (int64_t b = 0; b < mb.rows; ++b) {
    int64_t n = 0;
    for (int64_t len : mb.doc_lengths[static_cast<size_t>(b)]) n += len;
    real[b].narrow(0, 0, std::min(n, mb.cols)).fill_(true);
  }
  return real.reshape({-1});
}

at::Tensor MicroBatchLossSum(const Decoder& model, const MicroBatch& mb, BatchingMode mode, double label_smoothing,
                             const ActivationCheckpointing& checkpointing, LayerRunner* runner, RouterTrace* trace) {
  at::Tensor ids = at::from_blob(const_cast<int64_t*>(mb.input_ids.data()), {mb.rows, mb.cols}, at::kLong).clone();
  at::Tensor targets = at::from_blob(const_cast<int64_t*>(mb.targets.data()), {mb.rows, mb.cols}, at::kLong).clone();
  AttentionLayout layout;
  if (mode == BatchingMode::kPacked) {
    layout = AttentionLayout::Packed(mb.doc_lengths, mb.cols);
  } else {
    std::vector<int64_t> lengths;
    for (const auto& row : mb.doc_lengths) lengths.push_back(row.empty() ? 0 : row[0]);
    layout = AttentionLayout::RightPadded(lengths, mb.cols);
  }
  AutocastScope autocast(ForwardAutocast(model));
  at::Tensor hidden = model.ForwardHidden(ids, layout, checkpointing, runner, trace);
  return TokenLossSum(model, hidden, targets, label_smoothing);  // autocast keeps cross-entropy in fp32
}

void KeepFreedMemoryForReuse() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

MatmulPeak MeasureMatmulPeak(int samples_per_round, int max_rounds) {
  at::NoGradGuard no_grad;
  constexpr int64_t n = 1024;  // large enough for full-speed sgemm, ~20 ms per product here
  at::Tensor a = at::randn({n, n}), b = at::randn({n, n});
  at::mm(a, b);  // warm-up: threads started, pages touched
  MatmulPeak peak;
  std::vector<double> round;
  for (int r = 0; r < std::max(1, max_rounds); ++r) {
    if (r > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    round.clear();
    for (int i = 0; i < std::max(1, samples_per_round); ++i) {
      const auto t0 = Clock::now();
      at::Tensor c = at::mm(a, b);
      const double s = SecondsSince(t0);
      if (s <= 0) continue;
      round.push_back(2.0 * static_cast<double>(n * n * n) / s);
      peak.flops = std::max(peak.flops, round.back());
      ++peak.samples;
    }
    if (round.empty()) continue;
    std::sort(round.begin(), round.end());
    peak.median_flops = round[round.size() / 2];
    if (peak.median_flops >= 0.9 * peak.flops) return peak;  // quiet: the samples agree
  }
  if (peak.flops > 0 && peak.median_flops < 0.75 * peak.flops) {
    peak.warning = absl::StrFormat(
        "matmul peak samples spread from %.1f to %.1f GFLOP/s (median %.1f): the machine was busy while measuring, "
        "so the peak may read low and MFU high; pass --peak-flops to fix it",
        round.front() / 1e9, peak.flops / 1e9, peak.median_flops / 1e9);
  }
  return peak;
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainerOptions& options, Collective* collective) {
  RETURN_IF_ERROR(options.Validate());
  if (options.model_dir.empty()) return absl::InvalidArgumentError("model_dir (--model): required");
  if (options.data_path.empty()) return absl::InvalidArgumentError("data_path (--data): required");
  if (options.threads > 0) at::set_num_threads(options.threads);
  TrainerOptions o = options;
  o.model_dir = ResolveModelDir(o.model_dir);  // an old run's checkpoints/latest pointer file
  if (o.tokenizer_dir.empty()) o.tokenizer_dir = o.model_dir;

  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(o.model_dir));
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Load(o.tokenizer_dir);
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(), absl::StrCat("loading the tokenizer from ", o.tokenizer_dir, ": ",
                                                                tokenizer.status().message()));
  }
  absl::StatusOr<std::unique_ptr<ChatTemplate>> chat = ChatTemplate::Load(o.tokenizer_dir);
  if (!chat.ok()) {
    return absl::Status(chat.status().code(), absl::StrCat("loading the chat template from ", o.tokenizer_dir, ": ",
                                                           chat.status().message()));
  }
  if ((*tokenizer)->vocab_size() > config.vocab_size) {
    return absl::FailedPreconditionError(absl::StrCat(
        "incompatible model and tokenizer: the tokenizer in ", o.tokenizer_dir, " has ", (*tokenizer)->vocab_size(),
        " token ids but ", o.model_dir, "/config.json has vocab_size ", config.vocab_size));
  }
  SftDatasetOptions data = o.data;
  data.max_seq_len = o.max_seq_len;
  data.vocab_limit = config.vocab_size;
  ASSIGN_OR_RETURN(SftDataset dataset, LoadSftDataset(o.data_path, **chat, **tokenizer, data));
  if (!o.rank_sizes_path.empty()) {
    ASSIGN_OR_RETURN(std::vector<SharedExample> sizes, ReadRankSizes(o.rank_sizes_path));
    ASSIGN_OR_RETURN(dataset, SpreadRankShare(std::move(dataset), sizes, o.rank_sizes_path));
    LOG(INFO) << o.rank_sizes_path << ": this rank holds " << dataset.stats.examples << " of the round's "
              << dataset.examples.size() << " examples";
  }
  LOG(INFO) << o.data_path << ": " << dataset.stats.examples << " examples, " << dataset.stats.tokens << " tokens ("
            << dataset.stats.target_tokens << " trained), " << dataset.stats.truncated << " truncated, "
            << dataset.stats.dropped_truncated << " dropped by truncation, " << dataset.stats.bad_lines
            << " bad lines skipped";

  ASSIGN_OR_RETURN(DecoderOptions dopts, ResolveDevice(o.device));
  dopts.dtype = at::kFloat;  // master weights; CUDA computes under bf16 autocast
  ASSIGN_OR_RETURN(std::unique_ptr<Decoder> model, Decoder::Load(o.model_dir, dopts));
  return FromModel(o, std::move(model), std::move(dataset), collective);
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::FromModel(const TrainerOptions& options,
                                                            std::unique_ptr<Decoder> model, SftDataset dataset,
                                                            Collective* collective) {
  RETURN_IF_ERROR(options.Validate());
  if (options.threads > 0) at::set_num_threads(options.threads);
  TrainerOptions o = options;
  o.batching.row_tokens = o.max_seq_len;
  ASSIGN_OR_RETURN(BatchPlan plan, dataset.sizes.empty() ? BatchPlan::Build(dataset.examples, o.batching, o.epochs)
                                                         : BatchPlan::Build(dataset.sizes, o.batching, o.epochs));
  if (!dataset.sizes.empty()) {
    const int rank = collective != nullptr ? collective->rank() : 0;
    const int world = collective != nullptr ? collective->world_size() : 1;
    const std::vector<bool> used = plan.ExamplesOfRank(rank, world, o.max_steps);
    for (size_t i = 0; i < used.size(); ++i) {
      if (used[i] && dataset.examples[i].ids.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("rank ", rank, " of ", world, " trains on example ", i, ", which ", o.rank_sizes_path,
                         " marks as not held (the sizes file was written for another rank, world size or batch plan)"));
      }
    }
  }
  std::unique_ptr<Trainer> t;
  try {
    t.reset(new Trainer(o, std::move(model), std::move(dataset), std::move(plan), collective));
    if (o.sharding != ShardingMode::kNone) {
      ASSIGN_OR_RETURN(t->sharded_, ShardedModel::Create(*t->model_, o.sharding, *t->collective_, o.adamw,
                                                         o.param_dtype == "bf16" ? at::kBFloat16 : at::kFloat,
                                                         o.overlap_communication));
    }
    if (o.resume) {
      ASSIGN_OR_RETURN(std::optional<std::string> latest, LatestCheckpoint(CheckpointsDir(o)));
      if (latest) {
        RETURN_IF_ERROR(t->Restore(*latest));
      } else {
        LOG(INFO) << "--resume: no checkpoint under " << CheckpointsDir(o) << " yet; starting at step 0";
      }
    }
  } catch (const c10::Error& e) {
    return TorchError("setting up the trainer", e);
  }
  return t;
}

Trainer::Trainer(const TrainerOptions& options, std::unique_ptr<Decoder> model, SftDataset dataset, BatchPlan plan,
                 Collective* collective)
    : options_(options),
      model_(std::move(model)),
      dataset_(std::move(dataset)),
      plan_(std::move(plan)),
      collective_(collective != nullptr ? collective : &single_) {
  peak_flops_ = options_.peak_flops;
  params_ = model_->Parameters();
  for (auto& [name, p] : params_) {
    p.requires_grad_(true);
    if (options_.sharding == ShardingMode::kNone) p.mutable_grad() = at::zeros_like(p);
  }
  // Sharded, ShardedModel (made in FromModel) owns gradients and moments.
  if (options_.sharding == ShardingMode::kNone) optimizer_ = std::make_unique<AdamW>(params_, options_.adamw);
  total_steps_ = plan_.num_steps();
  if (options_.max_steps > 0) total_steps_ = std::min(total_steps_, options_.max_steps);
  schedule_.peak_lr = options_.lr;
  schedule_.warmup_steps = options_.warmup_steps;
  schedule_.total_steps = total_steps_;
  schedule_.decay = options_.decay;
  schedule_.min_lr_ratio = options_.min_lr_ratio;
  // Validated with the options (ResolveRouterAuxLoss fails only on a bad name).
  if (auto aux = ResolveRouterAuxLoss(options_, model_->config()); aux.ok()) {
    aux_loss_ = aux->first;
    aux_coef_ = aux->second;
  }
}

Trainer::~Trainer() = default;

nlohmann::ordered_json Trainer::Recipe() const {
  const BatchPlanOptions& b = plan_.options();
  nlohmann::ordered_json r;
  r["seed"] = b.seed;
  r["batching"] = b.mode == BatchingMode::kPacked ? "packed" : "padded";
  r["max_seq_len"] = options_.max_seq_len;
  r["micro_batch_tokens"] = b.micro_batch_tokens;
  r["batch_tokens"] = b.batch_tokens;
  r["epochs"] = options_.epochs;
  r["total_steps"] = total_steps_;
  r["lr"] = options_.lr;
  r["warmup_steps"] = options_.warmup_steps;
  r["schedule"] = std::string(LrDecayName(options_.decay));
  r["min_lr_ratio"] = options_.min_lr_ratio;
  r["beta1"] = options_.adamw.beta1;
  r["beta2"] = options_.adamw.beta2;
  r["eps"] = options_.adamw.eps;
  r["weight_decay"] = options_.adamw.weight_decay;
  r["grad_clip"] = options_.grad_clip;
  if (options_.param_dtype != "fp32") r["param_dtype"] = options_.param_dtype;  // changes the numerics
  if (aux_loss_ != RouterAuxLoss::kOff) {
    r["router_aux_loss"] = RouterAuxLossName(aux_loss_);
    r["router_aux_loss_coef"] = aux_coef_;
  }
  return r;
}

absl::Status Trainer::Restore(const std::string& dir) {
  ASSIGN_OR_RETURN(ModelConfig found, LoadModelConfig(dir));
  RETURN_IF_ERROR(CheckSameArchitecture(model_->config(),
                                        options_.model_dir.empty() ? "(in memory)" : options_.model_dir, found, dir));
  ASSIGN_OR_RETURN(LoadedTrainState loaded, LoadTrainState(dir));
  if (loaded.state.data_fingerprint != dataset_.fingerprint) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", dir, " was trained on different data (fingerprint mismatch with ", options_.data_path,
        " after tokenization); resume needs the same --data, tokenizer and --max-seq-len"));
  }
  const nlohmann::ordered_json mine = Recipe();
  for (const auto& [key, value] : mine.items()) {
    if (!loaded.state.recipe.contains(key) || loaded.state.recipe[key] != value) {
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint ", dir, " used ", key, " = ",
                       loaded.state.recipe.contains(key) ? loaded.state.recipe[key].dump() : "(unset)",
                       " but this run has ", key, " = ", value.dump(), "; resume with the original settings"));
    }
  }
  if (loaded.state.step < 0 || loaded.state.step > total_steps_) {
    return absl::DataLossError(absl::StrCat(dir, ": step ", loaded.state.step, " is outside [0, ", total_steps_, "]"));
  }
  if (loaded.state.step < total_steps_) {
    const StepSpec& next = plan_.step(loaded.state.step);
    if (next.epoch != loaded.state.epoch || next.index_in_epoch != loaded.state.index_in_epoch) {
      return absl::DataLossError(absl::StrCat(dir, ": data cursor (epoch ", loaded.state.epoch, ", batch ",
                                              loaded.state.index_in_epoch, ") does not match step ", loaded.state.step,
                                              " of the plan"));
    }
  }
  if (IsShardedCheckpoint(dir) != (sharded_ != nullptr)) {
    return absl::FailedPreconditionError(
        sharded_ != nullptr ? absl::StrCat("checkpoint ", dir, " is not sharded; resume it with --sharding none")
                            : absl::StrCat("checkpoint ", dir,
                                           " is sharded (shard_manifest.json); resume it with --sharding "
                                           "optimizer, gradients or full, at any world size"));
  }
  if (sharded_ != nullptr) {
    ASSIGN_OR_RETURN(LoadedShard shard,
                     LoadShardedState(dir, sharded_->layout(), collective_->rank(), collective_->world_size()));
    if (shard.saved_world_size != collective_->world_size()) {
      LOG(INFO) << dir << ": resharding from " << shard.saved_world_size << " to " << collective_->world_size()
                << " ranks";
    }
    RETURN_IF_ERROR(sharded_->LoadShardTensors(shard.tensors, loaded.state.optimizer_steps));
    loaded.rng_state = shard.rng_state;
  } else {
    ASSIGN_OR_RETURN(auto weights, LoadHfWeights(dir, model_->config(), at::kFloat, model_->options().device));
    at::NoGradGuard no_grad;
    for (auto& [name, view] : model_->HfNamedTensors()) {
      auto it = weights.find(name);
      if (it == weights.end()) return absl::DataLossError(absl::StrCat(dir, ": missing tensor ", name));
      view.copy_(it->second);
    }
    RETURN_IF_ERROR(optimizer_->LoadState(loaded.optimizer_state, loaded.state.optimizer_steps));
  }
  if (loaded.rng_state.defined()) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle on the shared generator
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(loaded.rng_state);
  }
  step_ = loaded.state.step;
  LOG(INFO) << "resumed from " << dir << " at step " << step_ << " of " << total_steps_;
  return absl::OkStatus();
}

absl::StatusOr<StepMetrics> Trainer::Step() {
  try {
    return StepImpl();
  } catch (const c10::Error& e) {
    return TorchError(absl::StrCat("training step ", step_ + 1).c_str(), e);
  }
}

absl::StatusOr<StepMetrics> Trainer::StepImpl() {
  if (step_ >= total_steps_) {
    return absl::FailedPreconditionError(absl::StrCat("training already finished (", total_steps_, " steps)"));
  }
  const auto t0 = Clock::now();
  const int64_t s = step_;
  Collective& coll = *collective_;
  const double global_targets = static_cast<double>(std::max<int64_t>(1, plan_.GlobalLossTokens(s)));
  if (sharded_ != nullptr) {
    RETURN_IF_ERROR(sharded_->BeginStep());
  } else {
    for (auto& [name, p] : params_) p.mutable_grad().zero_();
  }
  LayerRunner* runner = sharded_ != nullptr ? sharded_->runner() : nullptr;

  double loss_sum = 0, tokens = 0, pairs = 0, aux_sum = 0;
  const ModelConfig& config = model_->config();
  const bool moe = config.num_moe_layers() > 0;
  // Each micro-batch's aux loss weighs 1 / (the step's micro-batches, all ranks).
  const double mb_weight = 1.0 / static_cast<double>(std::max<int64_t>(1, plan_.step(s).count));
  std::map<int64_t, ExpertLoad> loads;
  const std::vector<const MicroBatchSpec*> share = plan_.RankShare(s, coll.rank(), coll.world_size());
  for (const MicroBatchSpec* spec : share) {
    MicroBatch mb = Materialize(*spec, dataset_.examples, plan_.options());
    std::unique_ptr<RouterTrace> trace;
    if (moe) trace = std::make_unique<RouterTrace>(config, aux_loss_, aux_coef_ * mb_weight, RealTokenMask(mb));
    at::Tensor loss = MicroBatchLossSum(*model_, mb, plan_.options().mode, options_.label_smoothing,
                                        options_.activation_checkpointing, runner, trace.get());
    (loss / global_targets).backward();
    loss_sum += loss.item<double>();
    tokens += static_cast<double>(mb.real_tokens);
    pairs += AttentionPairs(mb);
    if (trace != nullptr) {
      aux_sum += mb_weight * trace->AuxLoss();
      for (const ExpertLoad& l : trace->Loads()) {
        ExpertLoad& into = loads[l.layer];
        into.layer = l.layer;
        into.Add(l);
      }
    }
  }
  if (runner != nullptr) {
    // Layers gather and reduce inside forward and backward: a rank with
    // fewer micro-batches than another runs empty ones to meet it.
    size_t most = share.size();
    for (int r = 0; r < coll.world_size(); ++r) most = std::max(most, plan_.RankShare(s, r, coll.world_size()).size());
    for (size_t k = share.size(); k < most; ++k) {
      at::Tensor ids = at::zeros({1, 1}, at::TensorOptions().dtype(at::kLong).device(model_->options().device));
      at::Tensor empty;
      {
        AutocastScope autocast(ForwardAutocast(*model_));
        empty = model_->ForwardHidden(ids, {}, options_.activation_checkpointing, runner).sum() * 0;
      }
      empty.backward();
    }
  }
  // The layers' collectives still queued finish before any of the step's own.
  if (sharded_ != nullptr) RETURN_IF_ERROR(sharded_->WaitForCommunication());

  at::NoGradGuard no_grad;
  // Loss, tokens, attention pairs, then for MoE the aux loss and every MoE
  // layer's tokens and expert counts, summed over the ranks in one call.
  std::vector<double> sums = {loss_sum, tokens, pairs, aux_sum};
  std::vector<int64_t> moe_layers;
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    if (!config.IsMoeLayer(l)) continue;
    moe_layers.push_back(l);
    const ExpertLoad& load = loads[l];
    sums.push_back(static_cast<double>(load.tokens));
    for (int64_t e = 0; e < config.moe.num_experts; ++e) {
      sums.push_back(e < static_cast<int64_t>(load.counts.size()) ? static_cast<double>(load.counts[e]) : 0.0);
    }
  }
  at::Tensor stats = at::tensor(sums, at::kDouble);
  if (coll.world_size() > 1) RETURN_IF_ERROR(coll.AllReduceSum({stats}));
  double grad_norm = 0;
  std::vector<at::Tensor> grads;
  if (sharded_ != nullptr) {
    RETURN_IF_ERROR(sharded_->FinishGradients());
    ASSIGN_OR_RETURN(grad_norm, sharded_->GradNorm());
  } else {
    for (auto& [name, p] : params_) grads.push_back(p.mutable_grad());
    if (coll.world_size() > 1) RETURN_IF_ERROR(coll.AllReduceSum(grads));
    std::vector<at::Tensor> norms;
    for (const at::Tensor& g : grads) norms.push_back(g.norm());
    grad_norm = at::stack(norms).norm().item<double>();
  }
  if (!std::isfinite(grad_norm)) {
    return absl::InternalError(absl::StrCat("step ", s + 1, ": the gradient norm is ", grad_norm,
                                            "; stopping before the update corrupts the weights"));
  }
  if (options_.grad_clip > 0 && grad_norm > options_.grad_clip) {
    const double coef = options_.grad_clip / (grad_norm + 1e-6);
    if (sharded_ != nullptr) {
      sharded_->ScaleGradients(coef);
    } else {
      for (at::Tensor& g : grads) g.mul_(coef);
    }
  }
  const double lr = LearningRate(schedule_, s);
  if (sharded_ != nullptr) {
    RETURN_IF_ERROR(sharded_->Update(lr));
  } else {
    optimizer_->Step(lr);
  }
  ++step_;

  StepMetrics m;
  m.step = step_;
  m.epoch = plan_.step(s).epoch;
  m.loss = stats[0].item<double>() / global_targets;
  if (moe) {
    const double* v = stats.data_ptr<double>();
    m.ce_loss = m.loss;
    m.aux_loss = v[3];
    if (aux_loss_ != RouterAuxLoss::kOff) m.loss += aux_coef_ * m.aux_loss;
    m.top_k = config.moe.num_experts_per_tok;
    size_t at = 4;
    for (int64_t l : moe_layers) {
      ExpertLoad load;
      load.layer = l;
      load.tokens = static_cast<int64_t>(v[at++]);
      for (int64_t e = 0; e < config.moe.num_experts; ++e) load.counts.push_back(static_cast<int64_t>(v[at++]));
      m.expert_load.push_back(std::move(load));
    }
  }
  m.lr = lr;
  m.grad_norm = grad_norm;
  m.tokens = static_cast<int64_t>(stats[1].item<double>());
  m.target_tokens = plan_.GlobalLossTokens(s);
  m.step_s = SecondsSince(t0);
  if (sharded_ != nullptr && sharded_->RunsLayers()) m.comm_wait_s = sharded_->comm_wait_seconds();
  m.tokens_per_s = m.step_s > 0 ? static_cast<double>(m.tokens) / m.step_s : 0;
  if (peak_flops_ > 0 && m.step_s > 0) {
    const double flops = TrainingFlops(model_->config(), static_cast<double>(m.tokens), stats[2].item<double>());
    const double per_rank = flops / m.step_s / coll.world_size();
    if (per_rank > peak_flops_) {
      // More than the peak is impossible: the peak was measured while the
      // machine was busy, or --peak-flops is low. Count against what was
      // achieved from now on, and say so once.
      if (!peak_raised_ && coll.rank() == 0) {
        LOG(WARNING) << absl::StrFormat(
            "step %d ran at %.1f GFLOP/s per rank, above the matmul peak of %.1f GFLOP/s it was measured against "
            "(measured while the machine was busy, or --peak-flops is too low); MFU is reported against %.1f from "
            "here on",
            step_, per_rank / 1e9, peak_flops_ / 1e9, per_rank / 1e9);
      }
      peak_raised_ = true;
      peak_flops_ = per_rank;
    }
    m.mfu = per_rank / peak_flops_;
  }
  elapsed_s_ += m.step_s;
  m.elapsed_s = elapsed_s_;
  return m;
}

int64_t Trainer::ModelStateBytes() const {
  if (sharded_ != nullptr) return sharded_->ModelStateBytes();
  int64_t bytes = optimizer_->StateBytes();
  for (const auto& [name, p] : params_) {
    bytes += 2 * p.numel() * static_cast<int64_t>(p.element_size());  // the parameter and its gradient
  }
  return bytes;
}

absl::StatusOr<NamedTensors> Trainer::FullParameters() {
  if (sharded_ != nullptr) return sharded_->GatherParameters(at::kCPU);
  NamedTensors out;
  at::NoGradGuard no_grad;
  for (const auto& [name, p] : params_) out.emplace_back(name, p.detach().to(at::kCPU, false, /*copy=*/true));
  return out;
}

TrainState Trainer::CurrentState() const {
  TrainState t;
  t.step = step_;
  if (step_ < total_steps_) {
    t.epoch = plan_.step(step_).epoch;
    t.index_in_epoch = plan_.step(step_).index_in_epoch;
  } else {
    t.epoch = options_.epochs;
  }
  t.optimizer_steps = sharded_ != nullptr ? sharded_->optimizer_steps() : optimizer_->steps();
  t.data_fingerprint = dataset_.fingerprint;
  t.recipe = Recipe();
  return t;
}

absl::Status Trainer::SaveCheckpoint() {
  try {
    at::NoGradGuard no_grad;
    if (sharded_ != nullptr) {
      ShardedCheckpointContents c;
      c.config = &model_->config();
      c.layout = &sharded_->layout();
      c.mode = sharded_->mode();
      c.shard = sharded_->ShardTensors();
      if (collective_->rank() == 0) c.rng_state = at::detail::getDefaultCPUGenerator().get_state();
      c.state = CurrentState();
      c.tokenizer_dir = options_.tokenizer_dir;
      return SaveShardedCheckpoint(CheckpointsDir(options_), c, *collective_, options_.keep_checkpoints);
    }
    if (collective_->rank() != 0) return absl::OkStatus();
    CheckpointContents c;
    c.config = &model_->config();
    c.hf_weights = model_->HfNamedTensors();
    c.optimizer_state = optimizer_->StateTensors();
    c.rng_state = at::detail::getDefaultCPUGenerator().get_state();
    c.state = CurrentState();
    c.tokenizer_dir = options_.tokenizer_dir;
    return SaveTrainCheckpoint(CheckpointsDir(options_), c, options_.keep_checkpoints);
  } catch (const c10::Error& e) {
    return TorchError("saving a checkpoint", e);
  }
}

absl::Status Trainer::ExportModel(const std::string& dir) {
  const bool lead = collective_->rank() == 0;
  try {
    at::NoGradGuard no_grad;
    if (sharded_ == nullptr) {
      return lead ? SaveModelFolder(dir, model_->config(), model_->HfNamedTensors(options_.export_expert_layout),
                                    options_.tokenizer_dir)
                  : absl::OkStatus();
    }
    // Unit by unit: every rank gathers one unit, rank 0 writes it as one file
    // of a sharded HF folder, so no rank holds the whole model. A write error
    // on rank 0 waits until the gathers are done, so no rank is left waiting.
    const std::string partial = dir + ".partial";
    absl::Status written;
    std::optional<HfCheckpointWriter> writer;
    if (lead) {
      written = PrepareModelFolder(dir);
      if (written.ok()) {
        auto w = HfCheckpointWriter::Open(partial, model_->config(), static_cast<int>(sharded_->layout().size()),
                                          DType::kF32, /*indexed=*/true);
        if (w.ok()) writer.emplace(std::move(*w));
        written = w.status();
      }
    }
    const size_t root = sharded_->layout().size() - 1;
    RETURN_IF_ERROR(sharded_->ForEachGatheredUnit([&](const FlatUnitLayout& unit) {
      if (!lead || !written.ok()) return absl::OkStatus();
      const size_t u = static_cast<size_t>(&unit - sharded_->layout().data());
      written = writer->WritePart(u == root ? model_->HfNamedTensorsOfRoot()
                                            : model_->HfNamedTensorsOfLayer(static_cast<int64_t>(u),
                                                                            options_.export_expert_layout));
      return absl::OkStatus();
    }));
    if (!lead) return absl::OkStatus();
    RETURN_IF_ERROR(written);
    RETURN_IF_ERROR(writer->Finish());
    return PublishModelFolder(partial, dir, options_.tokenizer_dir);
  } catch (const c10::Error& e) {
    return TorchError("saving the final model", e);
  }
}

absl::Status Trainer::Run() {
  const bool lead = collective_->rank() == 0;
  RETURN_IF_ERROR(MakeDirs(options_.out_dir));
  std::optional<MetricsLog> log;
  if (lead) {
    ASSIGN_OR_RETURN(MetricsLog opened, MetricsLog::Open(JoinPath(options_.out_dir, "metrics.jsonl"), step_));
    log.emplace(std::move(opened));
  }
  int64_t saved_at = -1;
  while (step_ < total_steps_) {
    ASSIGN_OR_RETURN(StepMetrics m, Step());
    m.total_steps = total_steps_;
    if (lead) {
      RETURN_IF_ERROR(log->Write(m));
      if (options_.progress) std::fprintf(stderr, "%s\n", ProgressLine(m, total_steps_).c_str());
    }
    if (options_.save_every > 0 && step_ % options_.save_every == 0) {
      RETURN_IF_ERROR(SaveCheckpoint());
      saved_at = step_;
    }
  }
  if (saved_at != step_) RETURN_IF_ERROR(SaveCheckpoint());
  RETURN_IF_ERROR(ExportModel(JoinPath(options_.out_dir, "model")));
  if (lead) {
    LOG(INFO) << "trained " << total_steps_ << " steps; model in " << JoinPath(options_.out_dir, "model");
  }
  return collective_->Barrier();
}

}  // namespace ssd
