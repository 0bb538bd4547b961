#include "common/sampling/generation_model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/sampling/prompt_model.h"
#include "common/util/status_macros.h"

namespace ssd {

absl::StatusOr<GenerationModel> LoadGenerationModel(const std::string& dir_in, DecoderOptions options,
                                                    const std::string& tokenizer_dir) {
  // Config, tokenizer and template first: their mistakes are the common
  // ones, and loading a large model first would only delay the message.
  ASSIGN_OR_RETURN(PromptModel p, LoadPromptModel(dir_in, tokenizer_dir));
  options.batch_invariant = true;
  ASSIGN_OR_RETURN(std::unique_ptr<Decoder> model, Decoder::Load(p.dir, options));
  GenerationModel g;
  static_cast<PromptModel&>(g) = std::move(p);
  g.model = std::shared_ptr<const Decoder>(std::move(model));
  return g;
}

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const GenerationModel& gm, EngineOptions options) {
  options.default_stop_ids = gm.default_stop_ids;
  return Engine::Create(gm.model, gm.tokenizer.get(), options);
}

}  // namespace ssd
