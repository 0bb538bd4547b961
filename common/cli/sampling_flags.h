// The sampling flags of `ssd sample` and `ssd eval`, defined once so the two
// commands share their names, meanings and defaults (sampling_presets.h):
//
//   --preset NAME   ssd-train | ssd-eval; sets temperature, top-k, top-p,
//                   min-p and the repetition penalty. Each command has a
//                   default preset (sample: ssd-train, eval: ssd-eval).
//   --temperature, --top-k, --top-p, --min-p, --repetition-penalty
//                   override the preset's value when given.
//   --n, --max-tokens (default kDefaultMaxTokens), --min-tokens, --seed, --stop
//
// And the checks that need the model: --max-tokens beyond its context is
// capped with one warning (MaxTokensCap), and a run whose samples often end
// by length says so (LengthStopWarning).
#ifndef SSD_COMMON_CLI_SAMPLING_FLAGS_H_
#define SSD_COMMON_CLI_SAMPLING_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sampling/sampling_params.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace ssd {

struct SamplingFlags {
  std::string preset;
  SamplingParams params;  // what the flags parse into
  // Set by AddSamplingFlags: the decode flags, to tell given from defaulted.
  CLI::Option* temperature = nullptr;
  CLI::Option* top_k = nullptr;
  CLI::Option* top_p = nullptr;
  CLI::Option* min_p = nullptr;
  CLI::Option* repetition_penalty = nullptr;
};

// Adds the flags above to `command`, with `default_preset`'s values shown as
// the defaults and `default_n` for --n. `flags` must outlive the parse.
void AddSamplingFlags(CLI::App* command, SamplingFlags* flags, absl::string_view default_preset, int64_t default_n);

// The parameters after parsing: the preset's decode settings with every
// decode flag the user gave on top, plus n, max_tokens, seed and stops.
// InvalidArgument for an unknown preset. Range checks are the caller's
// (SamplingParams::Validate).
absl::StatusOr<SamplingParams> ResolveSamplingFlags(const SamplingFlags& flags);

// "presets: ssd-train (...); ssd-eval (...)" for --help texts.
std::string PresetHelp();

// Caps generation lengths at the model's context: an answer cannot be longer
// than max_position_embeddings (the engine would stop there with reason
// "length"), and asking for more usually means the user expected a longer
// answer than the model can give. Warns once (glog) the first time it caps.
class MaxTokensCap {
 public:
  MaxTokensCap(int64_t max_position_embeddings, std::string model_dir);
  // `requested` or the context, whichever is smaller; `what` names the
  // source in the warning ("--max-tokens", "prompts.jsonl:3 max_tokens").
  int64_t Apply(int64_t requested, absl::string_view what);
  int64_t capped() const { return capped_; }

 private:
  const int64_t context_;
  const std::string model_dir_;
  int64_t capped_ = 0;
};

// Percent of samples ending by length above which a run warns.
inline constexpr double kLengthStopWarnPercent = 5.0;

// "" when at most kLengthStopWarnPercent of `total` samples ended by
// length; else one sentence with the count, the share and what to do.
std::string LengthStopWarning(int64_t length_stops, int64_t total, int64_t max_tokens);

}  // namespace ssd

#endif  // SSD_COMMON_CLI_SAMPLING_FLAGS_H_
