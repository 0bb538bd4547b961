#include "trainer_worker/train_command.h"

#include <ATen/Parallel.h>
#include <glog/logging.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/cli/cli_util.h"
#include "common/model/device.h"
#include "common/model/model_config.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/file_util.h"
#include "common/util/omp_wait_policy.h"
#include "common/util/status_macros.h"
#include "trainer_worker/gloo_collective.h"
#include "trainer_worker/launcher.h"
#include "trainer_worker/nccl_collective.h"
#include "trainer_worker/train_spec.h"
#include "trainer_worker/trainer.h"

namespace ssd {
namespace {

struct TrainFlags {
  TrainerOptions trainer;
  std::string schedule = "cosine";
  std::string batching = "packed";
  std::string on_bad_line = "fail";
  std::string activation_checkpointing = "none";
  std::string sharding = "none";
  std::string expert_layout = "per-expert";
  uint64_t seed = 0;
  double peak_flops = -1;  // < 0: measure at startup
  bool no_progress = false;
  std::string dump_tokens;
  std::string enable_thinking;  // "", "true" or "false"
  // Data parallelism.
  int nproc = 0;
  RendezvousOptions rendezvous;
  std::string store_owner = "rank0";
  // A job's TrainSpec (train_spec.h), and the flags it may not be given with.
  std::string spec_path;
  std::vector<std::string> flags_given_with_spec;
};

// The spec's settings onto the flags they replace.
absl::Status ApplyTrainSpec(const v1::TrainSpec& t, TrainFlags* f) {
  TrainerOptions& o = f->trainer;
  ASSIGN_OR_RETURN(BatchPlanOptions plan, PlanOptionsFor(t));
  o.epochs = PlanEpochs(t);  // with steps, the steps end the run
  o.max_steps = t.steps();
  o.lr = t.lr();
  switch (t.schedule()) {
    case v1::LR_SCHEDULE_COSINE: f->schedule = "cosine"; break;
    case v1::LR_SCHEDULE_LINEAR: f->schedule = "linear"; break;
    case v1::LR_SCHEDULE_CONSTANT: f->schedule = "constant"; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("--spec: schedule ", t.schedule(), " is not one ssd knows"));
  }
  f->batching = plan.mode == BatchingMode::kPadded ? "padded" : "packed";
  if (t.lr() <= 0) return absl::InvalidArgumentError(absl::StrCat("--spec: lr must be > 0, got ", t.lr()));
  o.min_lr_ratio = t.min_lr() / t.lr();
  o.warmup_steps = t.warmup_steps();
  o.batching.batch_tokens = plan.batch_tokens;
  o.batching.micro_batch_tokens = plan.micro_batch_tokens;
  o.max_seq_len = t.max_seq_len();
  o.adamw.weight_decay = t.weight_decay();
  o.adamw.beta1 = t.beta1();
  o.adamw.beta2 = t.beta2();
  o.grad_clip = t.grad_clip();
  f->seed = plan.seed;
  o.save_every = t.save_every();
  if (t.activation_checkpoint_every() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--spec: activation_checkpoint_every must be >= 0, got ", t.activation_checkpoint_every()));
  }
  f->activation_checkpointing = ActivationCheckpointing{t.activation_checkpoint_every()}.Name();
  ASSIGN_OR_RETURN(ShardingMode sharding, ShardingFromProto(t.sharding()));
  f->sharding = ShardingModeName(sharding);
  o.router_aux_loss = t.router_aux_loss().empty() ? "auto" : t.router_aux_loss();
  o.router_aux_loss_coef = t.has_router_aux_loss_coef() ? t.router_aux_loss_coef() : -1;
  return absl::OkStatus();
}

// The launcher re-runs this very command line, minus --nproc, once per rank.
absl::StatusOr<std::vector<std::string>> ArgsWithoutNproc() {
  ASSIGN_OR_RETURN(std::string cmdline, ReadFileToString("/proc/self/cmdline", 1 << 20));
  std::vector<std::string> args = absl::StrSplit(cmdline, '\0');
  while (!args.empty() && args.back().empty()) args.pop_back();
  std::vector<std::string> out;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;
      continue;
    }
    if (absl::StartsWith(args[i], "--nproc=")) continue;
    for (const char* flag : {"--rank", "--world-size", "--master-addr", "--master-port", "--store-owner"}) {
      if (args[i] == flag || absl::StartsWith(args[i], absl::StrCat(flag, "="))) {
        return absl::InvalidArgumentError(
            absl::StrCat("--nproc launches its own ranks and rendezvous; do not combine it with ", flag));
      }
    }
    out.push_back(args[i]);
  }
  return out;
}

absl::Status DumpTokens(const TrainerOptions& o, const std::string& path) {
  const std::string tok_dir = o.tokenizer_dir.empty() ? o.model_dir : o.tokenizer_dir;
  ASSIGN_OR_RETURN(auto tokenizer, Tokenizer::Load(tok_dir));
  ASSIGN_OR_RETURN(auto chat, ChatTemplate::Load(tok_dir));
  SftDatasetOptions data = o.data;
  data.max_seq_len = o.max_seq_len;
  ASSIGN_OR_RETURN(SftDataset ds, LoadSftDataset(o.data_path, *chat, *tokenizer, data));
  std::string text;
  for (const TokenizedExample& ex : ds.examples) {
    nlohmann::json j;
    j["ids"] = ex.ids;
    j["mask"] = ex.loss_mask;
    absl::StrAppend(&text, j.dump(), "\n");
  }
  return WriteFileAtomically(path, text);
}

absl::Status RunTrain(TrainFlags f) {
  TrainerOptions& o = f.trainer;
  if (!f.spec_path.empty()) {
    if (!f.flags_given_with_spec.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.flags_given_with_spec.front(), ": the --spec file sets it; give one or the other"));
    }
    ASSIGN_OR_RETURN(v1::TrainSpec spec, ReadTrainSpec(f.spec_path));
    RETURN_IF_ERROR(ApplyTrainSpec(spec, &f));
  }
  ASSIGN_OR_RETURN(o.decay, ParseLrDecay(f.schedule));
  ASSIGN_OR_RETURN(o.activation_checkpointing,
                   ActivationCheckpointing::Parse(f.activation_checkpointing, "--activation-checkpointing"));
  ASSIGN_OR_RETURN(o.sharding, ParseShardingMode(f.sharding, "--sharding"));
  if (f.expert_layout == "per-expert" || f.expert_layout == "fused") {
    o.export_expert_layout = f.expert_layout == "fused" ? ExpertLayout::kFused : ExpertLayout::kPerExpert;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--expert-layout: \"", f.expert_layout, "\" is not one of per-expert, fused"));
  }
  if (f.batching == "packed") {
    o.batching.mode = BatchingMode::kPacked;
  } else if (f.batching == "padded") {
    o.batching.mode = BatchingMode::kPadded;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--batching: \"", f.batching, "\" is not one of packed, padded"));
  }
  if (f.on_bad_line == "fail" || f.on_bad_line == "skip") {
    o.data.bad_lines = f.on_bad_line == "fail" ? BadLinePolicy::kFail : BadLinePolicy::kSkip;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--on-bad-line: \"", f.on_bad_line, "\" is not one of fail, skip"));
  }
  if (f.store_owner == "rank0" || f.store_owner == "external") {
    f.rendezvous.store_owner = f.store_owner == "rank0" ? StoreOwner::kRank0 : StoreOwner::kExternal;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--store-owner: \"", f.store_owner, "\" is not one of rank0, external"));
  }
  if (f.enable_thinking == "true" || f.enable_thinking == "false") {
    o.data.chat.extra["enable_thinking"] = f.enable_thinking == "true";
  } else if (!f.enable_thinking.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--enable-thinking: \"", f.enable_thinking, "\" is not one of true, false"));
  }
  o.batching.seed = f.seed;
  o.progress = !f.no_progress;
  // Every flag and path is checked before the slow steps: launching ranks,
  // the rendezvous, measuring the matmul peak, loading.
  RETURN_IF_ERROR(o.CheckInputFiles());
  if (!f.dump_tokens.empty()) return DumpTokens(o, f.dump_tokens);
  RETURN_IF_ERROR(o.Validate());
  if (f.nproc <= 1) RETURN_IF_ERROR(f.rendezvous.Validate());  // --nproc makes its own
  RETURN_IF_ERROR(ResolveDevice(o.device).status());

  if (f.nproc > 1) {
    ASSIGN_OR_RETURN(std::unique_ptr<StoreServer> store, StoreServer::Start("127.0.0.1", f.rendezvous.timeout_s));
    LaunchOptions launch;
    ASSIGN_OR_RETURN(launch.args, ArgsWithoutNproc());
    if (o.threads == 0) {
      // Split the cores between the ranks rather than oversubscribing them
      // (a rank alone would take them all).
      auto it = std::find(launch.args.begin(), launch.args.end(), "--threads");
      if (it != launch.args.end() && it + 1 != launch.args.end()) launch.args.erase(it, it + 2);
      launch.args.push_back("--threads");
      launch.args.push_back(std::to_string(CpuThreads(0, f.nproc)));
    }
    launch.nproc = f.nproc;
    ShareCoresWithChildren();  // the ranks share the cores: passive OpenMP waits
    launch.master_addr = "127.0.0.1";
    launch.master_port = store->port();
    return LaunchLocalRanks(launch);
  }

  KeepFreedMemoryForReuse();
  const int world = f.rendezvous.world_size;
  o.threads = CpuThreads(o.threads, world);
  at::set_num_threads(o.threads);
  std::unique_ptr<Collective> collective;
  if (world > 1) {
    if (absl::StartsWith(o.device, "cuda")) {
      // One GPU per rank: plain "cuda" means the device of this node-local
      // rank ($LOCAL_RANK when the launcher of a multi-node job sets it).
      NcclOptions n;
      n.rendezvous = f.rendezvous;
      const char* local = std::getenv("LOCAL_RANK");
      if (o.device == "cuda")
        o.device = absl::StrCat("cuda:", local != nullptr ? local : std::to_string(f.rendezvous.rank));
      if (o.device.size() < 6 || o.device[4] != ':' || !absl::SimpleAtoi(o.device.substr(5), &n.device)) {
        return absl::InvalidArgumentError(absl::StrCat("--device: \"", o.device, "\" is not cpu, cuda or cuda:N"));
      }
      ASSIGN_OR_RETURN(collective, ConnectNccl(n));
    } else {
      GlooOptions g;
      g.rendezvous = f.rendezvous;
      ASSIGN_OR_RETURN(collective, GlooCollective::Connect(g));
    }
  }
  if (f.peak_flops < 0) {
    o.peak_flops = 0;
    if (o.device == "cpu") {
      const MatmulPeak peak = MeasureMatmulPeak();
      o.peak_flops = peak.flops;
      if (f.rendezvous.rank == 0) {
        LOG(INFO) << absl::StrFormat("matmul peak %.1f GFLOP/s per rank (%d threads, best of %d samples), for MFU",
                                     peak.flops / 1e9, o.threads, peak.samples);
        if (!peak.warning.empty()) LOG(WARNING) << peak.warning;
      }
    }
  } else {
    o.peak_flops = f.peak_flops;
  }
  if (f.rendezvous.rank != 0) o.progress = false;
  ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer, Trainer::Create(o, collective.get()));
  return trainer->Run();
}

}  // namespace

void RegisterTrainCommand(CLI::App& app, std::function<int()>* run) {
  auto f = std::make_shared<TrainFlags>();
  TrainerOptions& o = f->trainer;
  CLI::App* c = app.add_subcommand(
      "train",
      "Supervised fine-tuning on chat JSONL (loss on assistant tokens); --nproc N runs N local ranks over Gloo");
  c->add_option("--model", o.model_dir, "Hugging Face model folder (config.json, weights, tokenizer files)")
      ->required();
  c->add_option("--data", o.data_path, "training data: {\"messages\": [...]} or {\"prompt\", \"response\"} per line")
      ->required();
  c->add_option("--out", o.out_dir, "output folder: checkpoints/, metrics.jsonl, model/")->required();
  c->add_option("--tokenizer", o.tokenizer_dir,
                "folder with tokenizer.json + tokenizer_config.json (default: --model)");
  c->add_option("--epochs", o.epochs, "passes over the data")->capture_default_str();
  c->add_option("--max-steps", o.max_steps, "stop after this many optimizer steps (0: all epochs)")
      ->capture_default_str();
  c->add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
  c->add_option("--batch-tokens", o.batching.batch_tokens, "tokens per optimizer step (global batch)")
      ->capture_default_str();
  c->add_option("--micro-batch-tokens", o.batching.micro_batch_tokens, "tokens per forward/backward")
      ->capture_default_str();
  c->add_option("--max-seq-len", o.max_seq_len, "truncation limit and packed row length")->capture_default_str();
  c->add_option("--warmup", o.warmup_steps, "linear warmup steps")->capture_default_str();
  c->add_option("--schedule", f->schedule, "decay after warmup: cosine, linear or constant")->capture_default_str();
  c->add_option("--min-lr-ratio", o.min_lr_ratio, "decay floor as a fraction of --lr")->capture_default_str();
  c->add_option("--weight-decay", o.adamw.weight_decay, "AdamW decoupled weight decay (not on norms/biases)")
      ->capture_default_str();
  c->add_option("--beta1", o.adamw.beta1, "AdamW beta1")->capture_default_str();
  c->add_option("--beta2", o.adamw.beta2, "AdamW beta2")->capture_default_str();
  c->add_option("--grad-clip", o.grad_clip, "global gradient-norm clip (0: off)")->capture_default_str();
  c->add_option("--label-smoothing", o.label_smoothing,
                "share of each target's loss spread over the whole vocabulary (0: plain SFT, what SSD uses)")
      ->capture_default_str();
  c->add_option("--activation-checkpointing", f->activation_checkpointing,
                "layers that keep only their input and recompute in backward: none, full or every:N")
      ->capture_default_str();
  c->add_option("--sharding", f->sharding,
                "state each rank holds only its share of: none, optimizer (ZeRO-1), gradients (ZeRO-2) or full "
                "(ZeRO-3/FSDP)")
      ->capture_default_str();
  c->add_option("--param-dtype", o.param_dtype,
                "with --sharding: gather and compute parameters in fp32 or bf16 (fp32 masters, moments and gradient "
                "reduction; the forward under autocast)")
      ->capture_default_str();
  c->add_option("--router-aux-loss", o.router_aux_loss,
                "MoE models: the router's load-balancing loss, hf (transformers'), per_layer (Megatron's), off, or auto "
                "(hf when the model file's output_router_logits is true, else off)")
      ->capture_default_str();
  c->add_option("--router-aux-loss-coef", o.router_aux_loss_coef,
                "MoE models: its coefficient (< 0: the model file's router_aux_loss_coef)")
      ->capture_default_str();
  c->add_option("--expert-layout", f->expert_layout,
                "MoE models: the final model's experts per-expert (transformers 4, vLLM) or fused (transformers 5)")
      ->capture_default_str();
  c->add_option("--seed", f->seed, "data shuffling seed")->capture_default_str();
  c->add_option("--batching", f->batching, "packed (default) or padded (length-bucketed)")->capture_default_str();
  c->add_option("--on-bad-line", f->on_bad_line, "malformed data lines: fail or skip")->capture_default_str();
  c->add_flag("--resume", o.resume, "continue from <out>/checkpoints/latest when it exists");
  c->add_option("--save-every", o.save_every, "checkpoint every N steps (0: only at the end)")->capture_default_str();
  c->add_option("--keep-checkpoints", o.keep_checkpoints, "checkpoints kept")->capture_default_str();
  c->add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  c->add_option("--threads", o.threads, "intra-op threads per rank (0: cores / ranks)")->capture_default_str();
  c->add_option("--peak-flops", f->peak_flops, "per-rank peak FLOP/s for MFU (default: measured; 0: no MFU)");
  c->add_flag("--no-progress", f->no_progress, "no progress line on stderr");
  c->add_option("--enable-thinking", f->enable_thinking,
                "chat-template variable enable_thinking (Qwen3): true or false (default: the template's)");
  c->add_option("--rank-sizes", o.rank_sizes_path,
                "this rank's --data holds only the examples it trains on; FILE gives every example's size "
                "(written by the trainer worker)");
  c->add_option("--dump-tokens", f->dump_tokens, "write the tokenized data ({ids, mask} per line) here and exit");
  c->add_option("--nproc", f->nproc, "launch this many local ranks over Gloo");
  c->add_option("--rank", f->rendezvous.rank, "this process's rank (with --world-size)")->capture_default_str();
  c->add_option("--world-size", f->rendezvous.world_size, "number of ranks")->capture_default_str();
  c->add_option("--master-addr", f->rendezvous.master_addr, "rendezvous (TCPStore) address")->capture_default_str();
  c->add_option("--master-port", f->rendezvous.master_port, "rendezvous (TCPStore) port")->capture_default_str();
  c->add_option("--store-owner", f->store_owner, "who hosts the store: rank0 or external (the launcher)")
      ->capture_default_str();
  c->add_option("--spec", f->spec_path,
                "a job's training settings (a TrainSpec as JSON, train_spec.h) instead of the flags it sets");
  c->callback([c, f, run] {
    for (const std::string& flag : TrainSpecFlags()) {
      if (c->count(flag) > 0) f->flags_given_with_spec.push_back(flag);
    }
    *run = [f] { return ReportStatus("train", RunTrain(*f)); };
  });
}

}  // namespace ssd
