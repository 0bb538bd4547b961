#include "common/cli/model_commands.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <iostream>
#include <memory>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/cli/cli_util.h"
#include "common/model/checkpoint.h"
#include "common/model/checkpoint_files.h"
#include "common/model/decoder.h"
#include "common/model/device.h"
#include "common/model/generate.h"
#include "common/model/model_config.h"
#include "common/tokenizer/end_of_turn.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/file_util.h"
#include "common/util/omp_wait_policy.h"
#include "common/util/openblas_core.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

struct InitFlags {
  std::string arch = "qwen3";
  std::string out;
  int64_t vocab = 256, hidden = 64, layers = 2, heads = 4, kv_heads = 2, head_dim = 16;
  int64_t intermediate = 128, max_pos = 4096, original_max_pos = 8192;
  double rope_theta = 10000.0, init_std = 0.02;
  uint64_t seed = 0;
  std::string tie = "auto";
  bool attention_bias = false;
  std::string dtype = "f32";
  int64_t max_shard_bytes = 0;
  std::vector<int64_t> eos_ids;
  // qwen3_moe
  int64_t experts = 8, experts_per_tok = 2, moe_intermediate = 32, sparse_step = 1;
  std::string norm_topk_prob = "true";
  std::vector<int64_t> mlp_only_layers;
  double router_aux_loss_coef = 0.001;
  bool output_router_logits = false;
  std::string tokenizer;             // copied in; sets vocab and eos defaults
  CLI::Option* vocab_opt = nullptr;  // to tell --vocab given from defaulted
};

struct RunFlags {
  std::string model;
  std::string ids;
  int64_t max_new_tokens = 16;
  bool ignore_eos = false;
  bool json = false;
  std::string device = "cpu";
};

absl::StatusOr<DType> ParseSaveDtype(const std::string& s) {
  if (s == "f32" || s == "float32") return DType::kF32;
  if (s == "bf16" || s == "bfloat16") return DType::kBF16;
  if (s == "f16" || s == "float16") return DType::kF16;
  return absl::InvalidArgumentError(absl::StrCat("--dtype: \"", s, "\" is not one of f32, bf16, f16"));
}

absl::Status RunInit(const InitFlags& f) {
  ModelConfig c;
  if (f.arch == "qwen3") {
    c.arch = ModelArch::kQwen3;
  } else if (f.arch == "qwen2") {
    c.arch = ModelArch::kQwen2;
  } else if (f.arch == "llama3") {
    c.arch = ModelArch::kLlama;
    c.rope_scaling.type = RopeScaling::Type::kLlama3;
    c.rope_scaling.original_max_position_embeddings = f.original_max_pos;
  } else if (f.arch == "qwen3_moe") {
    c.arch = ModelArch::kQwen3Moe;
    c.moe.num_experts = f.experts;
    c.moe.num_experts_per_tok = f.experts_per_tok;
    c.moe.moe_intermediate_size = f.moe_intermediate;
    c.moe.decoder_sparse_step = f.sparse_step;
    c.moe.mlp_only_layers = f.mlp_only_layers;
    c.moe.router_aux_loss_coef = f.router_aux_loss_coef;
    c.moe.output_router_logits = f.output_router_logits;
    if (f.norm_topk_prob != "true" && f.norm_topk_prob != "false") {
      return absl::InvalidArgumentError("--norm-topk-prob: must be true or false");
    }
    c.moe.norm_topk_prob = f.norm_topk_prob == "true";
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--arch: \"", f.arch, "\" is not one of qwen3, qwen2, llama3, qwen3_moe"));
  }
  c.vocab_size = f.vocab;
  std::vector<int64_t> eos_ids = f.eos_ids;
  if (!f.tokenizer.empty()) {
    if (!PathExists(JoinPath(f.tokenizer, "tokenizer.json"))) {
      return absl::InvalidArgumentError(absl::StrCat("--tokenizer ", f.tokenizer, " has no tokenizer.json"));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::Load(f.tokenizer));
    const bool vocab_given = f.vocab_opt != nullptr && f.vocab_opt->count() > 0;
    if (!vocab_given) {
      c.vocab_size = tok->vocab_size();
    } else if (f.vocab < tok->vocab_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--vocab ", f.vocab, " is smaller than the tokenizer in ", f.tokenizer, " (", tok->vocab_size(),
                       " tokens, ids up to ", tok->vocab_size() - 1, "); leave --vocab out to size the model to it"));
    }
    if (eos_ids.empty()) {
      ASSIGN_OR_RETURN(std::optional<int32_t> eot, EndOfTurnTokenId(f.tokenizer, *tok));
      if (eot.has_value()) eos_ids.push_back(*eot);
    }
  }
  c.hidden_size = f.hidden;
  c.num_hidden_layers = f.layers;
  c.num_attention_heads = f.heads;
  c.num_key_value_heads = f.kv_heads;
  c.head_dim = f.head_dim;
  c.intermediate_size = f.intermediate;
  c.max_position_embeddings = f.max_pos;
  c.rope_theta = f.rope_theta;
  c.attention_bias = f.attention_bias;
  c.rms_norm_eps = c.arch == ModelArch::kLlama ? 1e-5 : 1e-6;
  if (f.tie == "auto") {
    c.tie_word_embeddings = c.arch == ModelArch::kQwen3;  // qwen3_moe: untied, as Qwen3-30B-A3B
  } else if (f.tie == "true" || f.tie == "false") {
    c.tie_word_embeddings = f.tie == "true";
  } else {
    return absl::InvalidArgumentError("--tie: must be auto, true or false");
  }
  c.eos_token_ids = eos_ids;
  RETURN_IF_ERROR(c.Validate());
  ASSIGN_OR_RETURN(DType dtype, ParseSaveDtype(f.dtype));
  if (f.max_shard_bytes < 0) return absl::InvalidArgumentError("--max-shard-bytes: must be >= 0");
  ASSIGN_OR_RETURN(auto model, Decoder::RandomInit(c, f.seed, f.init_std));
  SaveOptions save;
  save.dtype = dtype;
  save.max_shard_bytes = static_cast<uint64_t>(f.max_shard_bytes);
  RETURN_IF_ERROR(SaveHfCheckpoint(f.out, c, model->HfNamedTensors(), save));
  if (!f.tokenizer.empty()) RETURN_IF_ERROR(CopyTokenizerFiles(f.tokenizer, f.out));
  std::cout << f.out << std::endl;
  return absl::OkStatus();
}

struct ConvertFlags {
  std::string model, out, dtype = "bf16";
  std::string expert_layout = "per-expert";
};

// Rewrites a model folder's weights in another dtype (config, tokenizer
// files copied); the weights go through the decoder's own loader, so what is
// written is exactly what the runtime reads.
absl::Status RunConvert(const ConvertFlags& f) {
  ASSIGN_OR_RETURN(DType dtype, ParseSaveDtype(f.dtype));
  if (ResolveModelDir(f.model) == ResolveModelDir(f.out)) {
    return absl::InvalidArgumentError("--out: must differ from --model");
  }
  if (f.expert_layout != "per-expert" && f.expert_layout != "fused") {
    return absl::InvalidArgumentError(
        absl::StrCat("--expert-layout: \"", f.expert_layout, "\" is not one of per-expert, fused"));
  }
  ASSIGN_OR_RETURN(auto model, Decoder::Load(f.model, DecoderOptions{}));
  SaveOptions save;
  save.dtype = dtype;
  const ExpertLayout layout = f.expert_layout == "fused" ? ExpertLayout::kFused : ExpertLayout::kPerExpert;
  RETURN_IF_ERROR(SaveHfCheckpoint(f.out, model->config(), model->HfNamedTensors(layout), save));
  RETURN_IF_ERROR(CopyTokenizerFiles(f.model, f.out));
  std::cout << f.out << std::endl;
  return absl::OkStatus();
}

absl::Status RunLogits(const RunFlags& f) {
  ASSIGN_OR_RETURN(DecoderOptions device, ResolveDevice(f.device));
  ASSIGN_OR_RETURN(auto model, Decoder::Load(f.model, device));
  ASSIGN_OR_RETURN(std::vector<int64_t> ids, ParseIdList("--ids", f.ids, model->config().vocab_size));
  at::NoGradGuard no_grad;
  const int64_t n = static_cast<int64_t>(ids.size());
  at::Tensor hidden = model->ForwardHidden(at::tensor(ids, at::kLong).view({1, n}));
  at::Tensor logits = model->Logits(hidden[0][n - 1]).to(at::kCPU).contiguous();
  std::cout << JsonFloatArray(logits.data_ptr<float>(), static_cast<size_t>(logits.numel())) << std::endl;
  return absl::OkStatus();
}

absl::Status RunGenerate(const RunFlags& f) {
  ASSIGN_OR_RETURN(DecoderOptions device, ResolveDevice(f.device));
  // The same arithmetic as `ssd sample`, so greedy outputs agree exactly.
  device.batch_invariant = true;
  ASSIGN_OR_RETURN(auto model, Decoder::Load(f.model, device));
  ASSIGN_OR_RETURN(std::vector<int64_t> ids, ParseIdList("--ids", f.ids, model->config().vocab_size));
  if (f.max_new_tokens < 0) return absl::InvalidArgumentError("--max-new-tokens: must be >= 0");
  GreedyOptions opts;
  opts.max_new_tokens = f.max_new_tokens;
  if (!f.ignore_eos) opts.stop_token_ids = model->config().eos_token_ids;
  std::cout << JsonIntArray(GreedyGenerate(*model, ids, opts)) << std::endl;
  return absl::OkStatus();
}

absl::Status RunInfo(const RunFlags& f) {
  ASSIGN_OR_RETURN(ModelConfig c, LoadModelConfig(f.model));
  ASSIGN_OR_RETURN(CheckpointFiles files, CheckpointFiles::Open(f.model));
  std::map<std::string, int64_t> dtype_bytes;
  int64_t stored = 0;
  for (const auto& file : files.files()) {
    for (const TensorInfo& t : file->tensors()) {
      dtype_bytes[std::string(DTypeName(t.dtype))] += static_cast<int64_t>(t.num_bytes());
      stored += t.num_elements();
    }
  }
  std::string dtypes;
  for (const auto& [name, bytes] : dtype_bytes) absl::StrAppend(&dtypes, dtypes.empty() ? "" : ",", name);
  const int64_t params = c.NumParameters(), active = c.NumActiveParameters();
  const std::string moe =
      c.is_moe() ? absl::StrFormat("experts:       %d per MoE layer, top-%d%s, expert mlp %d; %d of %d layers MoE\n",
                                   c.moe.num_experts, c.moe.num_experts_per_tok,
                                   c.moe.norm_topk_prob ? " (renormalised)" : "", c.moe.moe_intermediate_size,
                                   c.num_moe_layers(), c.num_hidden_layers)
                 : std::string();
  std::string rope = c.rope_scaling.type == RopeScaling::Type::kLlama3
                         ? absl::StrFormat("llama3(factor=%g, original_max=%d)", c.rope_scaling.factor,
                                           c.rope_scaling.original_max_position_embeddings)
                         : std::string("none");
  if (f.json) {
    std::cout << absl::StrFormat(
                     "{\"model_type\":\"%s\",\"parameters\":%d,\"dtype\":\"%s\",\"layers\":%d,"
                     "\"hidden_size\":%d,\"heads\":%d,\"kv_heads\":%d,\"head_dim\":%d,"
                     "\"intermediate_size\":%d,\"vocab_size\":%d,\"tie_word_embeddings\":%s,"
                     "\"weight_files\":%d,\"active_parameters\":%d,\"moe_layers\":%d}",
                     ModelTypeName(c.arch), params, dtypes, c.num_hidden_layers, c.hidden_size, c.num_attention_heads,
                     c.num_key_value_heads, c.head_dim, c.intermediate_size, c.vocab_size,
                     c.tie_word_embeddings ? "true" : "false", files.files().size(), active, c.num_moe_layers())
              << std::endl;
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat(
      "architecture:  %s (%d layers, hidden %d, %d heads / %d kv heads x %d, mlp %d, vocab %d)\n"
      "parameters:    %d (%.2fM)%s%s\n"
      "%s"
      "dtype:         %s on disk (config torch_dtype %s)\n"
      "rope:          theta %g, scaling %s\n"
      "weight files:  %d%s\n",
      ModelTypeName(c.arch), c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads,
      c.head_dim, c.intermediate_size, c.vocab_size, params, params / 1e6,
      c.tie_word_embeddings ? ", tied embeddings" : "",
      c.is_moe() ? absl::StrFormat(", %d (%.2fM) active per token", active, active / 1e6) : std::string(), moe, dtypes, c.torch_dtype, c.rope_theta, rope, files.files().size(),
      files.sharded() ? " (sharded index)" : "");
  return absl::OkStatus();
}

// Runs `fn` with libtorch's intra-op threads set, turning a stray c10::Error
// into a reported failure instead of an abort.
template <typename Fn>
int RunCommand(absl::string_view name, int threads, Fn fn) {
  at::set_num_threads(CpuThreads(threads));
  try {
    return ReportStatus(name, fn());
  } catch (const c10::Error& e) {
    return ReportStatus(name, absl::InternalError(e.what_without_backtrace()));
  }
}

}  // namespace

void RegisterModelCommands(CLI::App& app, std::function<int()>* run) {
  auto env_threads = std::make_shared<int>(0);
  CLI::App* env = app.add_subcommand("env", "Describe libtorch, BLAS threads and kernels, CPU kernels and CUDA/NCCL");
  env->add_option("--threads", *env_threads, "libtorch intra-op threads (default: all cores)");
  env->callback([env_threads, run] {
    *run = [env_threads] {
      return RunCommand("env", *env_threads, [] {
        std::cout << DescribeComputeEnvironment() << "omp wait:      " << DescribeOmpWaitPolicy() << "\n"
                  << "blas core:     " << DescribeOpenBlasCore() << "\n";
        return absl::OkStatus();
      });
    };
  });

  CLI::App* model = app.add_subcommand("model", "Create, inspect and run decoder models");
  model->require_subcommand(1);
  auto threads = std::make_shared<int>(0);
  model->add_option("--threads", *threads, "libtorch intra-op threads (default: all cores)");

  auto init = std::make_shared<InitFlags>();
  CLI::App* ci = model->add_subcommand("init", "Write a randomly initialised model as a Hugging Face folder");
  // A repeated size flag overrides the earlier one, so scripts can append.
  ci->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  ci->add_option("--arch", init->arch, "qwen3, qwen2, llama3 or qwen3_moe")->capture_default_str();
  ci->add_option("--out", init->out, "output folder")->required();
  init->vocab_opt =
      ci->add_option("--vocab", init->vocab, "vocab_size (default with --tokenizer: the tokenizer's size)")
          ->capture_default_str();
  ci->add_option("--tokenizer", init->tokenizer,
                 "copy tokenizer.json + tokenizer_config.json from this folder; vocab_size and eos_token_id "
                 "follow it unless --vocab / --eos-id say otherwise");
  ci->add_option("--hidden", init->hidden)->capture_default_str();
  ci->add_option("--layers", init->layers)->capture_default_str();
  ci->add_option("--heads", init->heads)->capture_default_str();
  ci->add_option("--kv-heads", init->kv_heads)->capture_default_str();
  ci->add_option("--head-dim", init->head_dim)->capture_default_str();
  ci->add_option("--intermediate", init->intermediate)->capture_default_str();
  ci->add_option("--max-position-embeddings", init->max_pos)->capture_default_str();
  ci->add_option("--original-max-position-embeddings", init->original_max_pos, "llama3 rope_scaling original context")
      ->capture_default_str();
  ci->add_option("--rope-theta", init->rope_theta)->capture_default_str();
  ci->add_option("--seed", init->seed)->capture_default_str();
  ci->add_option("--init-std", init->init_std, "std of the random matrices")->capture_default_str();
  ci->add_option("--tie", init->tie, "tie embeddings: auto (qwen3 yes), true, false")->capture_default_str();
  ci->add_flag("--attention-bias", init->attention_bias, "q/k/v/o biases (qwen3, llama3)");
  ci->add_option("--eos-id", init->eos_ids,
                 "eos token id (repeatable; default with --tokenizer: its end-of-turn token, <|im_end|> or "
                 "<|eot_id|>, else its eos_token)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  ci->add_option("--experts", init->experts, "qwen3_moe: num_experts")->capture_default_str();
  ci->add_option("--experts-per-tok", init->experts_per_tok, "qwen3_moe: num_experts_per_tok (top-k)")
      ->capture_default_str();
  ci->add_option("--moe-intermediate", init->moe_intermediate, "qwen3_moe: moe_intermediate_size")
      ->capture_default_str();
  ci->add_option("--norm-topk-prob", init->norm_topk_prob, "qwen3_moe: true or false")->capture_default_str();
  ci->add_option("--decoder-sparse-step", init->sparse_step, "qwen3_moe: every Nth layer is MoE")
      ->capture_default_str();
  ci->add_option("--mlp-only-layers", init->mlp_only_layers, "qwen3_moe: dense layers, by index (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  ci->add_option("--router-aux-loss-coef", init->router_aux_loss_coef, "qwen3_moe")->capture_default_str();
  ci->add_flag("--output-router-logits", init->output_router_logits,
               "qwen3_moe: the file asks for the load-balancing loss in training");
  ci->add_option("--dtype", init->dtype, "f32, bf16 or f16")->capture_default_str();
  ci->add_option("--max-shard-bytes", init->max_shard_bytes, "0: one file; else shard size")->capture_default_str();
  ci->callback([init, threads, run] {
    *run = [init, threads] { return RunCommand("model init", *threads, [&] { return RunInit(*init); }); };
  });

  auto cv = std::make_shared<ConvertFlags>();
  CLI::App* cc = model->add_subcommand("convert", "Rewrite a model folder's weights in another dtype");
  cc->add_option("--model", cv->model, "Hugging Face model folder")->required();
  cc->add_option("--out", cv->out, "output folder")->required();
  cc->add_option("--dtype", cv->dtype, "f32, bf16 or f16")->capture_default_str();
  cc->add_option("--expert-layout", cv->expert_layout,
                 "qwen3_moe experts: per-expert (transformers 4, vLLM) or fused (transformers 5)")
      ->capture_default_str();
  cc->callback([cv, threads, run] {
    *run = [cv, threads] { return RunCommand("model convert", *threads, [&] { return RunConvert(*cv); }); };
  });

  auto rf = std::make_shared<RunFlags>();
  CLI::App* cl = model->add_subcommand("logits", "Print the float32 logits of the last position as JSON");
  cl->add_option("--model", rf->model, "Hugging Face model folder")->required();
  cl->add_option("--ids", rf->ids, "comma-separated token ids")->required();
  cl->add_option("--device", rf->device, "cpu (fp32) or cuda[:N] (bf16)")->capture_default_str();
  cl->callback([rf, threads, run] {
    *run = [rf, threads] { return RunCommand("model logits", *threads, [&] { return RunLogits(*rf); }); };
  });

  CLI::App* cg = model->add_subcommand("generate", "Greedy generation with the KV cache; prints the new ids");
  cg->add_option("--model", rf->model, "Hugging Face model folder")->required();
  cg->add_option("--ids", rf->ids, "comma-separated prompt ids")->required();
  cg->add_option("--max-new-tokens", rf->max_new_tokens)->capture_default_str();
  cg->add_flag("--ignore-eos", rf->ignore_eos, "do not stop at the config's eos_token_id");
  cg->add_option("--device", rf->device, "cpu (fp32) or cuda[:N] (bf16)")->capture_default_str();
  cg->callback([rf, threads, run] {
    *run = [rf, threads] { return RunCommand("model generate", *threads, [&] { return RunGenerate(*rf); }); };
  });

  CLI::App* cinfo = model->add_subcommand("info", "Print architecture, parameter count and dtype");
  cinfo->add_option("--model", rf->model, "Hugging Face model folder")->required();
  cinfo->add_flag("--json", rf->json, "one JSON object");
  cinfo->callback([rf, threads, run] {
    *run = [rf, threads] { return RunCommand("model info", *threads, [&] { return RunInfo(*rf); }); };
  });
}

}  // namespace ssd
