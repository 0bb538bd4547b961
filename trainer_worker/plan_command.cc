#include "trainer_worker/plan_command.h"

#include <sys/stat.h>

#include <cstdio>
#include <optional>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/cli/cli_util.h"
#include "common/model/checkpoint_files.h"
#include "common/model/model_config.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "coordinator/job_spec.h"
#include "trainer_worker/memory_plan.h"
#include "trainer_worker/train_spec.h"

namespace ssd {
namespace {

struct PlanFlags {
  std::string what;   // job spec, model folder or config.json
  std::string model;  // overrides the spec's model
  std::optional<int> world_size;
  std::optional<std::string> sharding;
  std::optional<int64_t> max_seq_len;
  std::optional<int64_t> micro_batch_tokens;
  std::optional<std::string> activation_checkpointing;
  std::string device = "cuda";
  std::string dtype;  // default: bf16 on cuda, fp32 on cpu
  std::string param_dtype = "fp32";
  double device_memory_gib = 80;
  bool json = false;
};

bool IsDir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

absl::StatusOr<ModelConfig> ConfigAt(const std::string& path, const std::string& flag) {
  const std::string resolved = ResolveModelDir(path);
  const std::string file = IsDir(resolved) ? JoinPath(resolved, "config.json") : resolved;
  if (!PathExists(file)) {
    return absl::NotFoundError(absl::StrCat(flag, " ", path,
                                            ": no config.json there (give a model folder, a bare "
                                            "config.json, or --model for a spec whose model is elsewhere)"));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(file, 1 << 20));
  return ParseModelConfig(text, file);
}

absl::Status RunPlan(const PlanFlags& f) {
  MemoryPlanOptions o;
  o.device = f.device;
  o.param_dtype = f.param_dtype;
  o.dtype = !f.dtype.empty() ? f.dtype : f.device == "cpu" ? "fp32" : "bf16";
  o.device_memory_gib = f.device_memory_gib;
  std::string model = f.model;
  const bool spec = absl::EndsWith(f.what, ".yaml") || absl::EndsWith(f.what, ".yml");
  if (spec) {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(f.what, kMaxJobSpecBytes));
    JobSpecParseOptions parse;
    parse.base_dir = f.what.find('/') == std::string::npos ? "." : f.what.substr(0, f.what.rfind('/'));
    parse.problems_optional = true;
    absl::StatusOr<v1::JobSpec> js = ParseJobSpecYaml(text, parse);
    if (!js.ok()) return absl::Status(js.status().code(), absl::StrCat(f.what, ": ", js.status().message()));
    const v1::TrainSpec& t = js->train();
    o.world_size = std::max(1, t.trainers());
    ASSIGN_OR_RETURN(o.sharding, ShardingFromProto(t.sharding()));
    o.max_seq_len = t.max_seq_len();
    o.micro_batch_tokens = t.micro_batch_tokens();
    o.activation_checkpointing.every = t.activation_checkpoint_every();
    if (model.empty()) model = js->model();
  } else {
    if (!model.empty()) return absl::InvalidArgumentError("--model: only with a job spec; the argument is the model");
    model = f.what;
  }
  ASSIGN_OR_RETURN(ModelConfig config,
                   ConfigAt(model, spec && f.model.empty() ? absl::StrCat(f.what, ": model") : std::string("--model")));
  if (f.world_size) o.world_size = *f.world_size;
  if (f.sharding) {
    ASSIGN_OR_RETURN(o.sharding, ParseShardingMode(*f.sharding, "--sharding"));
  }
  if (f.max_seq_len) o.max_seq_len = *f.max_seq_len;
  if (f.micro_batch_tokens) o.micro_batch_tokens = *f.micro_batch_tokens;
  if (!spec && !f.micro_batch_tokens) o.micro_batch_tokens = o.max_seq_len;
  if (f.activation_checkpointing) {
    ASSIGN_OR_RETURN(o.activation_checkpointing,
                     ActivationCheckpointing::Parse(*f.activation_checkpointing, "--activation-checkpointing"));
  }
  ASSIGN_OR_RETURN(MemoryPlan plan, PlanMemory(config, o));
  const std::string out = f.json ? MemoryPlanJson(config, o, plan) : MemoryPlanText(config, o, plan);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return absl::OkStatus();
}

}  // namespace

void RegisterPlanCommand(CLI::App& app, std::function<int()>* run) {
  auto f = std::make_shared<PlanFlags>();
  CLI::App* c = app.add_subcommand(
      "plan", "memory per trainer rank for a job spec, a model folder or a config.json, and whether it fits");
  c->add_option("what", f->what, "job spec (.yaml), model folder or config.json")->required();
  c->add_option("--model", f->model, "with a spec: the model folder or config.json to price instead of its model");
  c->add_option("--world-size", f->world_size, "trainer ranks (default: the spec's train.trainers, else 1)");
  c->add_option("--sharding", f->sharding, "none, optimizer, gradients or full (default: the spec's, else none)");
  c->add_option("--max-seq-len", f->max_seq_len, "tokens per row (default: the spec's, else 2048)");
  c->add_option("--micro-batch-tokens", f->micro_batch_tokens,
                "tokens per forward/backward (default: the spec's, else --max-seq-len)");
  c->add_option("--activation-checkpointing", f->activation_checkpointing, "none, full or every:N");
  c->add_option("--device", f->device, "cuda or cpu: the runtime's own memory and the default --dtype")
      ->capture_default_str();
  c->add_option("--dtype", f->dtype, "activations: bf16 (GPU autocast; default on cuda) or fp32 (CPU)");
  c->add_option("--param-dtype", f->param_dtype, "parameters gathered in fp32 or bf16 (sharded only)")
      ->capture_default_str();
  c->add_option("--device-memory-gib", f->device_memory_gib, "memory per rank to judge the fit against (0: do not)")
      ->capture_default_str();
  c->add_flag("--json", f->json, "print JSON");
  c->callback([f, run] { *run = [f] { return ReportStatus("plan", RunPlan(*f)); }; });
}

}  // namespace ssd
