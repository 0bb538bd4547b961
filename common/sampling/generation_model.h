// GenerationModel: everything generation needs from a Hugging Face model
// folder, loaded together: PromptModel's config, tokenizer, chat template
// and default stop ids (prompt_model.h), and the decoder (batch-invariant
// on CPU, so samples do not depend on their batch).
#ifndef SSD_COMMON_SAMPLING_GENERATION_MODEL_H_
#define SSD_COMMON_SAMPLING_GENERATION_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/decoder.h"
#include "common/sampling/engine.h"
#include "common/sampling/prompt_model.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"

namespace ssd {

// The prompt side (config, tokenizer, chat template, stop ids) and the
// decoder.
struct GenerationModel : PromptModel {
  std::shared_ptr<const Decoder> model;
};

// Loads the model in `dir` (a `checkpoints/latest` pointer file is followed,
// see ResolveModelDir) with the tokenizer and chat template of
// `tokenizer_dir`, or of `dir` when that is empty. A missing tokenizer.json
// is FailedPrecondition saying how to attach one. `options.batch_invariant`
// is forced on.
absl::StatusOr<GenerationModel> LoadGenerationModel(const std::string& dir, DecoderOptions options,
                                                    const std::string& tokenizer_dir = "");

// An engine over `gm`'s model and tokenizer, stopping by default at its
// default stop ids (`options.default_stop_ids` is replaced).
absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const GenerationModel& gm, EngineOptions options);

}  // namespace ssd

#endif  // SSD_COMMON_SAMPLING_GENERATION_MODEL_H_
