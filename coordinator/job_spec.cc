#include "coordinator/job_spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/filter/sample_filter.h"
#include "common/model/activation_checkpointing.h"
#include "common/model/sharding_mode.h"
#include "common/sampling/sampling_presets.h"
#include "common/tokenizer/utf8.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "coordinator/yaml_fields.h"

namespace ssd {
namespace {

// The YAML spellings of the spec's enums.
bool ParseLrSchedule(const std::string& name, v1::LrSchedule* out) {
  if (name == "cosine")
    *out = v1::LR_SCHEDULE_COSINE;
  else if (name == "linear")
    *out = v1::LR_SCHEDULE_LINEAR;
  else if (name == "constant")
    *out = v1::LR_SCHEDULE_CONSTANT;
  else
    return false;
  return true;
}

bool ParseBatching(const std::string& name, v1::Batching* out) {
  if (name == "packed")
    *out = v1::BATCHING_PACKED;
  else if (name == "padded")
    *out = v1::BATCHING_PADDED;
  else
    return false;
  return true;
}

std::string Resolve(const std::string& base, const std::string& path) {
  if (path.empty()) return path;
  if (base.empty() || path[0] == '/') return NormalizePath(path);
  return NormalizePath(JoinPath(base, path));
}

bool ValidDate(const std::string& d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (d[i] < '0' || d[i] > '9') return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateBuiltJobSpec(const v1::JobSpec& spec) {
  RETURN_IF_ERROR(ValidateJobSpec(spec));
  const std::pair<const char*, const std::string*> paths[] = {{"model", &spec.model()},
                                                              {"problems", &spec.problems()},
                                                              {"prompt_template", &spec.prompt_template()},
                                                              {"output_dir", &spec.output_dir()},
                                                              {"eval.benchmark", &spec.eval().benchmark()}};
  for (const auto& [field, path] : paths) {
    if (!path->empty() && (*path)[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", *path, " is relative; a job_spec sent whole needs absolute paths"));
    }
  }
  return absl::OkStatus();
}

v1::JobSpec DefaultJobSpec() {
  v1::JobSpec spec;
  spec.set_rounds(1);
  spec.set_shard_size(16);
  spec.set_max_shard_attempts(3);
  v1::SamplingSpec* s = spec.mutable_sampling();
  // ml-ssd's data generation: the `ssd-train` preset, as `ssd sample` uses it.
  const SamplingParams train = PresetSamplingParams(kSsdTrainPreset);
  s->set_temperature(train.temperature);
  s->set_top_k(train.top_k);
  s->set_top_p(train.top_p);
  s->set_min_p(train.min_p);
  s->set_repetition_penalty(train.repetition_penalty);
  s->set_n(1);
  s->set_max_tokens(train.max_tokens);
  s->set_seed(0);
  *spec.mutable_filter() = DefaultFilterSpec();
  v1::TrainSpec* t = spec.mutable_train();
  t->set_epochs(1);
  t->set_steps(0);
  t->set_lr(5e-6);
  t->set_schedule(v1::LR_SCHEDULE_COSINE);
  t->set_min_lr(0);
  t->set_warmup_steps(0);
  t->set_batch_tokens(65536);
  t->set_micro_batch_tokens(8192);
  t->set_max_seq_len(2048);
  t->set_weight_decay(0.1);
  t->set_beta1(0.9);
  t->set_beta2(0.95);
  t->set_grad_clip(1.0);
  t->set_save_every(0);
  t->set_trainers(1);
  t->set_batching(v1::BATCHING_PACKED);
  t->set_seed(0);
  return spec;
}

v1::Truncation SingleTruncation(const v1::EvalSpec& eval) {
  v1::Truncation t;
  t.set_top_k(eval.top_k());
  t.set_top_p(eval.top_p());
  t.set_min_p(eval.min_p());
  return t;
}

std::vector<v1::Truncation> EvalTruncations(const v1::EvalSpec& eval) {
  if (eval.truncations_size() == 0) return {SingleTruncation(eval)};
  return std::vector<v1::Truncation>(eval.truncations().begin(), eval.truncations().end());
}

namespace {

v1::Sharding ShardingToProto(ShardingMode mode) {
  switch (mode) {
    case ShardingMode::kNone: return v1::SHARDING_NONE;
    case ShardingMode::kOptimizer: return v1::SHARDING_OPTIMIZER;
    case ShardingMode::kGradients: return v1::SHARDING_GRADIENTS;
    case ShardingMode::kFull: return v1::SHARDING_FULL;
  }
  return v1::SHARDING_NONE;
}

}  // namespace

namespace {

void DefaultEval(const v1::JobSpec& spec, v1::EvalSpec* e) {
  // The `ssd-eval` preset's truncation, as `ssd eval` uses it (the
  // temperatures are the spec's sweep).
  const SamplingParams eval = PresetSamplingParams(kSsdEvalPreset);
  e->set_n(10);
  e->set_top_k(eval.top_k);
  e->set_top_p(eval.top_p);
  e->set_min_p(eval.min_p);
  e->set_max_tokens(spec.sampling().max_tokens());
  e->set_held_out_fraction(0.5);
  e->set_split_seed(0);
  e->set_base(true);
  e->set_shard_size(4);
  e->set_timeout_s(6);
}

}  // namespace

absl::StatusOr<v1::JobSpec> ParseJobSpecYaml(absl::string_view yaml, const JobSpecParseOptions& options) {
  // A spec names its files; it never carries data. The bound keeps a
  // hostile one from costing the YAML parser more than a moment.
  if (yaml.size() > kMaxJobSpecBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("job spec: ", yaml.size(), " bytes, more than the limit of ", kMaxJobSpecBytes));
  }
  // YAML is Unicode text, and every string of a spec lands in a proto3
  // string field, which must be UTF-8: a spec that is not would be accepted
  // and then fail to parse back from the coordinator's store (found by the
  // job_spec fuzz target).
  if (const size_t bad = FindInvalidUtf8(yaml); bad != kValidUtf8) {
    return absl::InvalidArgumentError(absl::StrCat("job spec: byte ", bad, " is not valid UTF-8"));
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(absl::StrCat("job spec: not valid YAML at line ", e.mark.line + 1, ", column ",
                                                   e.mark.column + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("job spec: not valid YAML: ", e.what()));
  }
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        "job spec: the document must be a mapping of fields (name, model, problems, ...)");
  }
  v1::JobSpec spec = DefaultJobSpec();
  std::vector<std::string> errors;
  try {
    YamlFields top(root, "", &errors);
    top.Str("name", spec.mutable_name());
    top.Str("model", spec.mutable_model());
    top.Str("problems", spec.mutable_problems());
    top.Str("prompt_template", spec.mutable_prompt_template());
    top.Str("output_dir", spec.mutable_output_dir());
    int32_t i32 = 0;
    if (top.Has("rounds")) {
      i32 = spec.rounds();
      top.Int("rounds", &i32);
      spec.set_rounds(i32);
    }
    if (top.Has("shard_size")) {
      i32 = spec.shard_size();
      top.Int("shard_size", &i32);
      spec.set_shard_size(i32);
    }
    if (top.Has("max_shard_attempts")) {
      i32 = spec.max_shard_attempts();
      top.Int("max_shard_attempts", &i32);
      spec.set_max_shard_attempts(i32);
    }
    bool b = false;
    if (top.Has("enable_thinking")) {
      top.Bool("enable_thinking", &b);
      spec.set_enable_thinking(b);
    }

    if (YAML::Node n = top.Map("sampling"); n.IsDefined()) {
      YamlFields f(n, "sampling", &errors);
      v1::SamplingSpec* s = spec.mutable_sampling();
      double d = 0;
      int64_t i = 0;
      uint64_t u = 0;
#define SSD_DOUBLE(field) \
  if (f.Has(#field)) {    \
    d = s->field();       \
    f.Double(#field, &d); \
    s->set_##field(d);    \
  }
#define SSD_INT(field) \
  if (f.Has(#field)) { \
    i = s->field();    \
    f.Int(#field, &i); \
    s->set_##field(i); \
  }
      SSD_DOUBLE(temperature)
      SSD_INT(top_k)
      SSD_DOUBLE(top_p)
      SSD_DOUBLE(min_p)
      SSD_DOUBLE(repetition_penalty)
      SSD_INT(n)
      SSD_INT(max_tokens)
      SSD_INT(min_tokens)
      if (f.Has("seed")) {
        u = s->seed();
        f.Int("seed", &u);
        s->set_seed(u);
      }
      f.StrList("stop", s->mutable_stop());
      f.Finish();
    }

    if (YAML::Node n = top.Map("filter"); n.IsDefined()) {
      YamlFields f(n, "filter", &errors);
      v1::FilterSpec* s = spec.mutable_filter();
      if (f.Has("drop_empty")) {
        b = s->drop_empty();
        f.Bool("drop_empty", &b);
        s->set_drop_empty(b);
      }
      if (f.Has("drop_single_line")) {
        b = s->drop_single_line();
        f.Bool("drop_single_line", &b);
        s->set_drop_single_line(b);
      }
      double d = 0;
      SSD_DOUBLE(drop_shortest_percent)
      if (f.Has("length_unit")) {
        std::string unit;
        f.Str("length_unit", &unit);
        if (unit == "chars") {
          s->set_length_unit(v1::LENGTH_UNIT_CHARS);
        } else if (unit == "tokens") {
          s->set_length_unit(v1::LENGTH_UNIT_TOKENS);
        } else {
          errors.push_back(absl::StrCat("filter.length_unit: must be chars or tokens, got \"", unit, "\"",
                                        YamlWhere(n["length_unit"])));
        }
      }
      f.Finish();
    }

    if (YAML::Node n = top.Map("train"); n.IsDefined()) {
      YamlFields f(n, "train", &errors);
      v1::TrainSpec* s = spec.mutable_train();
      double d = 0;
      int64_t i = 0;
      uint64_t u = 0;
      SSD_INT(epochs)
      SSD_INT(steps)
      SSD_DOUBLE(lr)
      if (f.Has("schedule")) {
        std::string name;
        f.Str("schedule", &name);
        v1::LrSchedule v;
        if (ParseLrSchedule(name, &v)) {
          s->set_schedule(v);
        } else {
          errors.push_back(absl::StrCat("train.schedule: must be cosine, linear or constant, got \"", name, "\"",
                                        YamlWhere(n["schedule"])));
        }
      }
      SSD_DOUBLE(min_lr)
      SSD_INT(warmup_steps)
      SSD_INT(batch_tokens)
      SSD_INT(micro_batch_tokens)
      SSD_INT(max_seq_len)
      SSD_DOUBLE(weight_decay)
      SSD_DOUBLE(beta1)
      SSD_DOUBLE(beta2)
      SSD_DOUBLE(grad_clip)
      SSD_INT(save_every)
      if (f.Has("trainers")) {
        i32 = s->trainers();
        f.Int("trainers", &i32);
        s->set_trainers(i32);
      }
      if (f.Has("batching")) {
        std::string name;
        f.Str("batching", &name);
        v1::Batching v;
        if (ParseBatching(name, &v)) {
          s->set_batching(v);
        } else {
          errors.push_back(
              absl::StrCat("train.batching: must be packed or padded, got \"", name, "\"", YamlWhere(n["batching"])));
        }
      }
      if (f.Has("seed")) {
        u = s->seed();
        f.Int("seed", &u);
        s->set_seed(u);
      }
      if (f.Has("sharding")) {
        std::string name;
        f.Str("sharding", &name);
        auto mode = ParseShardingMode(name, "train.sharding");
        if (mode.ok()) {
          s->set_sharding(ShardingToProto(*mode));
        } else {
          errors.push_back(absl::StrCat(mode.status().message(), YamlWhere(n["sharding"])));
        }
      }
      if (f.Has("router_aux_loss")) {
        std::string name;
        f.Str("router_aux_loss", &name);
        s->set_router_aux_loss(name);
      }
      if (f.Has("router_aux_loss_coef")) {
        d = 0;
        f.Double("router_aux_loss_coef", &d);
        s->set_router_aux_loss_coef(d);
      }
      if (f.Has("activation_checkpointing")) {
        std::string name;
        f.Str("activation_checkpointing", &name);
        auto ac = ActivationCheckpointing::Parse(name, "train.activation_checkpointing");
        if (ac.ok()) {
          s->set_activation_checkpoint_every(ac->every);
        } else {
          errors.push_back(absl::StrCat(ac.status().message(), YamlWhere(n["activation_checkpointing"])));
        }
      }
      f.Finish();
    }

    if (YAML::Node n = top.Map("eval"); n.IsDefined()) {
      YamlFields f(n, "eval", &errors);
      v1::EvalSpec* s = spec.mutable_eval();
      DefaultEval(spec, s);
      double d = 0;
      int64_t i = 0;
      uint64_t u = 0;
      f.Str("benchmark", s->mutable_benchmark());
      SSD_INT(n)
      const bool single_truncation = f.Has("top_k") || f.Has("top_p") || f.Has("min_p");
      SSD_INT(top_k)
      SSD_DOUBLE(top_p)
      SSD_DOUBLE(min_p)
      const std::vector<YAML::Node> truncations = f.MapList("truncations");
      if (!truncations.empty() && single_truncation) {
        errors.push_back("eval.truncations: give either eval.truncations or eval.top_k / top_p / min_p, not both");
      }
      for (size_t k = 0; k < truncations.size(); ++k) {
        YamlFields g(truncations[k], absl::StrCat("eval.truncations[", k, "]"), &errors);
        v1::Truncation* t = s->add_truncations();
        t->set_top_k(0);  // what an item leaves out is off
        t->set_top_p(1);
        t->set_min_p(0);
        i = t->top_k();
        g.Int("top_k", &i);
        t->set_top_k(i);
        d = t->top_p();
        g.Double("top_p", &d);
        t->set_top_p(d);
        d = t->min_p();
        g.Double("min_p", &d);
        t->set_min_p(d);
        g.Finish();
      }
      SSD_INT(max_tokens)
      f.DoubleList("temperatures", s->mutable_temperatures());
      f.DoubleList("base_temperatures", s->mutable_base_temperatures());
      SSD_DOUBLE(held_out_fraction)
      if (f.Has("split_seed")) {
        u = s->split_seed();
        f.Int("split_seed", &u);
        s->set_split_seed(u);
      }
      if (f.Has("base")) {
        b = s->base();
        f.Bool("base", &b);
        s->set_base(b);
      }
      f.Str("start_date", s->mutable_start_date());
      f.Str("end_date", s->mutable_end_date());
      if (f.Has("shard_size")) {
        i32 = s->shard_size();
        f.Int("shard_size", &i32);
        s->set_shard_size(i32);
      }
      SSD_DOUBLE(timeout_s)
      f.IntList("ks", s->mutable_ks());
      f.Finish();
      if (s->base_temperatures_size() == 0) *s->mutable_base_temperatures() = s->temperatures();
      if (s->truncations_size() == 0) *s->add_truncations() = SingleTruncation(*s);
      if (s->ks_size() == 0) {
        for (int k : {1, 5, 10}) {
          if (k <= s->n()) s->add_ks(k);
        }
      }
    }
#undef SSD_DOUBLE
#undef SSD_INT
    top.Finish();
  } catch (const std::exception& e) {
    // yaml-cpp throws on malformed node access; nothing here should, but a
    // parser of user input never lets an exception escape.
    errors.push_back(absl::StrCat("job spec: ", e.what()));
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));

  const std::string& base = options.base_dir;
  spec.set_model(Resolve(base, spec.model()));
  spec.set_problems(Resolve(base, spec.problems()));
  spec.set_prompt_template(Resolve(base, spec.prompt_template()));
  spec.set_output_dir(Resolve(base, spec.output_dir()));
  if (spec.has_eval()) spec.mutable_eval()->set_benchmark(Resolve(base, spec.eval().benchmark()));
  if (absl::Status s = ValidateJobSpec(spec, options.problems_optional); !s.ok()) return s;
  return spec;
}

absl::Status ValidateJobSpec(const v1::JobSpec& spec, bool problems_optional) {
  std::vector<std::string> e;
  auto need = [&](bool ok, const std::string& msg) {
    if (!ok) e.push_back(msg);
  };
  auto num = [](double v) { return absl::StrCat(v); };
  need(!spec.model().empty(), "model: required (a Hugging Face model folder)");
  need(problems_optional || !spec.problems().empty(), "problems: required (a problem JSONL file)");
  need(spec.name().size() <= 200, "name: longer than 200 characters");
  need(spec.rounds() >= 1 && spec.rounds() <= 100, absl::StrCat("rounds: must be in [1, 100], got ", spec.rounds()));
  need(spec.shard_size() >= 1 && spec.shard_size() <= 100000,
       absl::StrCat("shard_size: must be in [1, 100000], got ", spec.shard_size()));
  need(spec.max_shard_attempts() >= 1 && spec.max_shard_attempts() <= 100,
       absl::StrCat("max_shard_attempts: must be in [1, 100], got ", spec.max_shard_attempts()));

  const v1::SamplingSpec& s = spec.sampling();
  need(s.temperature() > 0 && s.temperature() <= 10,
       absl::StrCat("sampling.temperature: must be in (0, 10], got ", num(s.temperature()),
                    s.temperature() == 0 ? " (SSD samples at a non-unit temperature; greedy gives one answer)" : ""));
  need(s.top_k() >= 0, absl::StrCat("sampling.top_k: must be >= 0 (0 turns it off), got ", s.top_k()));
  need(s.top_p() > 0 && s.top_p() <= 1, absl::StrCat("sampling.top_p: must be in (0, 1], got ", num(s.top_p())));
  need(s.min_p() >= 0 && s.min_p() <= 1, absl::StrCat("sampling.min_p: must be in [0, 1], got ", num(s.min_p())));
  need(s.repetition_penalty() > 0 && s.repetition_penalty() <= 10,
       absl::StrCat("sampling.repetition_penalty: must be in (0, 10], got ", num(s.repetition_penalty())));
  need(s.n() >= 1 && s.n() <= 1024, absl::StrCat("sampling.n: must be in [1, 1024], got ", s.n()));
  need(s.max_tokens() >= 1 && s.max_tokens() <= (1 << 20),
       absl::StrCat("sampling.max_tokens: must be in [1, 1048576], got ", s.max_tokens()));
  need(s.min_tokens() >= 0 && s.min_tokens() <= s.max_tokens(),
       absl::StrCat("sampling.min_tokens: must be in [0, sampling.max_tokens = ", s.max_tokens(), "], got ",
                    s.min_tokens()));
  for (int i = 0; i < s.stop_size(); ++i) {
    need(!s.stop(i).empty(), absl::StrCat("sampling.stop[", i, "]: must not be empty"));
  }

  const v1::FilterSpec& f = spec.filter();
  need(f.drop_shortest_percent() >= 0 && f.drop_shortest_percent() < 100,
       absl::StrCat("filter.drop_shortest_percent: must be in [0, 100), got ", num(f.drop_shortest_percent())));
  need(f.length_unit() == v1::LENGTH_UNIT_CHARS || f.length_unit() == v1::LENGTH_UNIT_TOKENS,
       "filter.length_unit: must be chars or tokens");

  const v1::TrainSpec& t = spec.train();
  need(t.epochs() >= 1 && t.epochs() <= 1000, absl::StrCat("train.epochs: must be in [1, 1000], got ", t.epochs()));
  need(t.steps() >= 0, absl::StrCat("train.steps: must be >= 0 (0: run the epochs), got ", t.steps()));
  need(t.lr() > 0 && t.lr() < 1, absl::StrCat("train.lr: must be in (0, 1), got ", num(t.lr())));
  need(t.schedule() != v1::LR_SCHEDULE_UNSPECIFIED && v1::LrSchedule_IsValid(t.schedule()),
       absl::StrCat("train.schedule: must be cosine, linear or constant, got ", t.schedule()));
  need(t.min_lr() >= 0 && t.min_lr() <= t.lr(),
       absl::StrCat("train.min_lr: must be in [0, train.lr], got ", num(t.min_lr())));
  need(t.warmup_steps() >= 0, absl::StrCat("train.warmup_steps: must be >= 0, got ", t.warmup_steps()));
  need(t.steps() == 0 || t.warmup_steps() <= t.steps(),
       absl::StrCat("train.warmup_steps: ", t.warmup_steps(), " is more than train.steps (", t.steps(), ")"));
  need(t.max_seq_len() >= 2 && t.max_seq_len() <= (1 << 22),
       absl::StrCat("train.max_seq_len: must be in [2, 4194304], got ", t.max_seq_len()));
  need(t.router_aux_loss().empty() || t.router_aux_loss() == "auto" || t.router_aux_loss() == "hf" ||
           t.router_aux_loss() == "per_layer" || t.router_aux_loss() == "off",
       absl::StrCat("train.router_aux_loss: must be hf, per_layer, off or auto (the model file's), got \"",
                    t.router_aux_loss(), "\""));
  need(!t.has_router_aux_loss_coef() ||
           (std::isfinite(t.router_aux_loss_coef()) && t.router_aux_loss_coef() >= 0),
       absl::StrCat("train.router_aux_loss_coef: must be a finite number >= 0, got ", num(t.router_aux_loss_coef())));
  need(v1::Sharding_IsValid(t.sharding()),
       absl::StrCat("train.sharding: must be none, optimizer, gradients or full, got ", t.sharding()));
  // Every rank writes its shard of each checkpoint into one folder.
  need(t.sharding() == v1::SHARDING_UNSPECIFIED || t.sharding() == v1::SHARDING_NONE || t.trainers() <= 1 ||
           !spec.output_dir().empty(),
       absl::StrCat(
           "train.sharding: ", absl::AsciiStrToLower(absl::StripPrefix(v1::Sharding_Name(t.sharding()), "SHARDING_")),
           " over ", t.trainers(),
           " trainers needs output_dir, a folder every trainer sees (each rank writes its shard of every "
           "checkpoint there)"));
  const bool packed = t.batching() == v1::BATCHING_PACKED;
  need(packed || t.batching() == v1::BATCHING_PADDED,
       absl::StrCat("train.batching: must be packed or padded, got ", t.batching()));
  if (t.max_seq_len() >= 2) {
    need(t.micro_batch_tokens() >= t.max_seq_len() && t.micro_batch_tokens() % t.max_seq_len() == 0,
         absl::StrCat("train.micro_batch_tokens: ", t.micro_batch_tokens(),
                      " must be a positive multiple of train.max_seq_len (", t.max_seq_len(), ")"));
  }
  need(t.micro_batch_tokens() > 0 && t.batch_tokens() >= t.micro_batch_tokens() &&
           t.batch_tokens() % std::max<int64_t>(1, t.micro_batch_tokens()) == 0,
       absl::StrCat("train.batch_tokens: ", t.batch_tokens(),
                    " must be a positive multiple of train.micro_batch_tokens (", t.micro_batch_tokens(), ")"));
  need(t.activation_checkpoint_every() >= 0,
       absl::StrCat("train.activation_checkpoint_every: must be >= 0 (0 none, 1 full, N every Nth layer), got ",
                    t.activation_checkpoint_every()));
  need(t.trainers() >= 1 && t.trainers() <= 4096,
       absl::StrCat("train.trainers: must be in [1, 4096], got ", t.trainers()));
  if (t.trainers() >= 1 && t.micro_batch_tokens() > 0 &&
      t.batch_tokens() % std::max<int64_t>(1, t.micro_batch_tokens()) == 0) {
    const int64_t micro = t.batch_tokens() / t.micro_batch_tokens();
    need(micro % t.trainers() == 0,
         absl::StrCat("train.trainers: ", t.trainers(), " ranks cannot share the ", micro,
                      " micro-batches of a step evenly (train.batch_tokens / train.micro_batch_tokens)"));
  }
  need(t.weight_decay() >= 0 && t.weight_decay() < 1,
       absl::StrCat("train.weight_decay: must be in [0, 1), got ", num(t.weight_decay())));
  need(t.beta1() >= 0 && t.beta1() < 1, absl::StrCat("train.beta1: must be in [0, 1), got ", num(t.beta1())));
  need(t.beta2() >= 0 && t.beta2() < 1, absl::StrCat("train.beta2: must be in [0, 1), got ", num(t.beta2())));
  need(t.grad_clip() >= 0, absl::StrCat("train.grad_clip: must be >= 0 (0 turns it off), got ", num(t.grad_clip())));
  need(t.save_every() >= 0, absl::StrCat("train.save_every: must be >= 0, got ", t.save_every()));

  if (spec.has_eval()) {
    const v1::EvalSpec& v = spec.eval();
    need(!v.benchmark().empty(), "eval.benchmark: required when eval is given (a LiveCodeBench or HumanEval JSONL)");
    need(v.n() >= 1 && v.n() <= 1024, absl::StrCat("eval.n: must be in [1, 1024], got ", v.n()));
    need(v.top_k() >= 0, absl::StrCat("eval.top_k: must be >= 0, got ", v.top_k()));
    need(v.top_p() > 0 && v.top_p() <= 1, absl::StrCat("eval.top_p: must be in (0, 1], got ", num(v.top_p())));
    need(v.min_p() >= 0 && v.min_p() <= 1, absl::StrCat("eval.min_p: must be in [0, 1], got ", num(v.min_p())));
    need(v.truncations_size() <= 8, absl::StrCat("eval.truncations: at most 8, got ", v.truncations_size()));
    for (int k = 0; k < v.truncations_size(); ++k) {
      const v1::Truncation& t = v.truncations(k);
      const std::string at = absl::StrCat("eval.truncations[", k, "]");
      need(t.top_k() >= 0, absl::StrCat(at, ".top_k: must be >= 0 (0 turns it off), got ", t.top_k()));
      need(t.top_p() > 0 && t.top_p() <= 1, absl::StrCat(at, ".top_p: must be in (0, 1], got ", num(t.top_p())));
      need(t.min_p() >= 0 && t.min_p() <= 1, absl::StrCat(at, ".min_p: must be in [0, 1], got ", num(t.min_p())));
      for (int j = 0; j < k; ++j) {
        const v1::Truncation& o = v.truncations(j);
        need(o.top_k() != t.top_k() || o.top_p() != t.top_p() || o.min_p() != t.min_p(),
             absl::StrCat(at, ": the same as eval.truncations[", j, "]"));
      }
    }
    need(v.max_tokens() >= 1 && v.max_tokens() <= (1 << 20),
         absl::StrCat("eval.max_tokens: must be in [1, 1048576], got ", v.max_tokens()));
    need(v.temperatures_size() > 0, "eval.temperatures: required, at least one (e.g. [0.6, 0.8, 1.0])");
    for (const char* which : {"temperatures", "base_temperatures"}) {
      const auto& list = std::string(which) == "temperatures" ? v.temperatures() : v.base_temperatures();
      std::set<double> seen;
      for (int i = 0; i < list.size(); ++i) {
        need(list[i] >= 0 && list[i] <= 10,
             absl::StrCat("eval.", which, "[", i, "]: must be in [0, 10], got ", num(list[i])));
        need(seen.insert(list[i]).second,
             absl::StrCat("eval.", which, "[", i, "]: ", num(list[i]), " is listed twice"));
      }
      need(list.size() <= 32, absl::StrCat("eval.", which, ": at most 32 temperatures"));
    }
    need(v.held_out_fraction() > 0 && v.held_out_fraction() < 1,
         absl::StrCat("eval.held_out_fraction: must be in (0, 1), got ", num(v.held_out_fraction())));
    need(v.start_date().empty() || ValidDate(v.start_date()),
         absl::StrCat("eval.start_date: must be YYYY-MM-DD, got \"", v.start_date(), "\""));
    need(v.end_date().empty() || ValidDate(v.end_date()),
         absl::StrCat("eval.end_date: must be YYYY-MM-DD, got \"", v.end_date(), "\""));
    need(v.shard_size() >= 1 && v.shard_size() <= 100000,
         absl::StrCat("eval.shard_size: must be in [1, 100000], got ", v.shard_size()));
    need(v.timeout_s() > 0 && v.timeout_s() <= 600,
         absl::StrCat("eval.timeout_s: must be in (0, 600], got ", num(v.timeout_s())));
    need(v.ks_size() > 0, "eval.ks: at least one k");
    for (int i = 0; i < v.ks_size(); ++i) {
      need(v.ks(i) >= 1 && v.ks(i) <= v.n(),
           absl::StrCat("eval.ks[", i, "]: must be in [1, eval.n = ", v.n(), "], got ", v.ks(i)));
    }
  }
  if (!e.empty()) return absl::InvalidArgumentError(absl::StrJoin(e, "\n"));
  return absl::OkStatus();
}

}  // namespace ssd
