#include "common/cli/sampling_flags.h"

#include <glog/logging.h>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sampling/sampling_presets.h"

namespace ssd {

std::string PresetHelp() {
  std::string out;
  for (const SamplingPreset& p : SamplingPresets()) {
    absl::StrAppend(&out, out.empty() ? "" : "; ", p.name, " = ", p.description);
  }
  return out;
}

void AddSamplingFlags(CLI::App* c, SamplingFlags* f, absl::string_view default_preset, int64_t default_n) {
  f->preset = std::string(default_preset);
  f->params = PresetSamplingParams(default_preset);
  f->params.n = default_n;
  c->add_option("--preset", f->preset,
                absl::StrCat("named decode settings (explicit flags override them): ", PresetHelp()))
      ->capture_default_str();
  f->temperature = c->add_option("--temperature", f->params.temperature, "0 is greedy (default: the preset's)")
                       ->capture_default_str();
  f->top_k = c->add_option("--top-k", f->params.top_k, "<= 0 is off (default: the preset's)")->capture_default_str();
  f->top_p = c->add_option("--top-p", f->params.top_p, "in (0, 1] (default: the preset's)")->capture_default_str();
  f->min_p = c->add_option("--min-p", f->params.min_p, "in [0, 1] (default: the preset's)")->capture_default_str();
  f->repetition_penalty =
      c->add_option("--repetition-penalty", f->params.repetition_penalty, "1 is off (default: the preset's)")
          ->capture_default_str();
  c->add_option("--n", f->params.n, "samples per prompt")->capture_default_str();
  c->add_option("--max-tokens", f->params.max_tokens,
                "generated tokens per sample (capped at the model's max_position_embeddings)")
      ->capture_default_str();
  c->add_option("--min-tokens", f->params.min_tokens,
                "no stop token or stop string ends a sample before this many tokens (vLLM's min_tokens)")
      ->capture_default_str();
  c->add_option("--seed", f->params.seed, "keys every sample's random stream")->capture_default_str();
  c->add_option("--stop", f->params.stop, "stop string (repeatable)");
}

absl::StatusOr<SamplingParams> ResolveSamplingFlags(const SamplingFlags& f) {
  absl::StatusOr<SamplingPreset> preset = FindSamplingPreset(f.preset);
  if (!preset.ok()) return preset.status();
  SamplingParams out = preset->ApplyTo(f.params);
  auto given = [](const CLI::Option* o) { return o != nullptr && o->count() > 0; };
  if (given(f.temperature)) out.temperature = f.params.temperature;
  if (given(f.top_k)) out.top_k = f.params.top_k;
  if (given(f.top_p)) out.top_p = f.params.top_p;
  if (given(f.min_p)) out.min_p = f.params.min_p;
  if (given(f.repetition_penalty)) out.repetition_penalty = f.params.repetition_penalty;
  return out;
}

MaxTokensCap::MaxTokensCap(int64_t max_position_embeddings, std::string model_dir)
    : context_(max_position_embeddings), model_dir_(std::move(model_dir)) {}

int64_t MaxTokensCap::Apply(int64_t requested, absl::string_view what) {
  if (requested <= context_) return requested;
  if (capped_++ == 0) {
    LOG(WARNING) << what << " " << requested << " is beyond the model's context: max_position_embeddings is "
                 << context_ << " in " << model_dir_ << "/config.json, and the prompt counts against it too; "
                 << "capped at " << context_ << " (this warning is shown once)";
  }
  return context_;
}

std::string LengthStopWarning(int64_t length_stops, int64_t total, int64_t max_tokens) {
  if (total <= 0 || length_stops * 100.0 <= kLengthStopWarnPercent * static_cast<double>(total)) return "";
  return absl::StrFormat(
      "%d of %d samples (%.1f%%) ended by length (finish_reason \"length\": --max-tokens %d or the model's "
      "context) and may be cut off mid-answer; raise --max-tokens",
      length_stops, total, 100.0 * static_cast<double>(length_stops) / static_cast<double>(total), max_tokens);
}

}  // namespace ssd
