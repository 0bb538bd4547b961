// GenerationModel: everything generation needs from a Hugging Face model
// folder, loaded together: the decoder (batch-invariant on CPU, so samples
// do not depend on their batch), the tokenizer, the chat template when the
// folder has one, and the default stop ids (config.json's eos_token_id plus
// the end-of-turn tokens the tokenizer declares, end_of_turn.h).
#ifndef SSD_COMMON_SAMPLING_GENERATION_MODEL_H_
#define SSD_COMMON_SAMPLING_GENERATION_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/decoder.h"
#include "common/sampling/engine.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"

namespace ssd {

struct GenerationModel {
  std::string dir;            // the model folder, after ResolveModelDir
  std::string tokenizer_dir;  // where tokenizer.json came from
  std::shared_ptr<const Decoder> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ChatTemplate> chat;  // null when the folder has none
  std::vector<int64_t> default_stop_ids;
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
