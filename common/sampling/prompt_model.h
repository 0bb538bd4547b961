// PromptModel: what turning prompts into token ids needs from a Hugging
// Face model folder, without the weights (torch-free): config.json, the
// tokenizer, the chat template when the folder has one, and the default stop
// ids (config.json's eos_token_id plus the end-of-turn tokens the tokenizer
// declares, end_of_turn.h). The native engine loads it with the weights
// (generation_model.h); the openai backend loads only this, to send an
// external server the same prompt ids and stop ids the engine would use.
#ifndef SSD_COMMON_SAMPLING_PROMPT_MODEL_H_
#define SSD_COMMON_SAMPLING_PROMPT_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/model_config.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"

namespace ssd {

struct PromptModel {
  std::string dir;            // the model folder, after ResolveModelDir
  std::string tokenizer_dir;  // where tokenizer.json came from
  ModelConfig config;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ChatTemplate> chat;  // null when the folder has none
  std::vector<int64_t> default_stop_ids;
};

// Loads `dir`'s config with the tokenizer and chat template of
// `tokenizer_dir`, or of `dir` when that is empty (a `checkpoints/latest`
// pointer file is followed). A missing tokenizer.json is
// FailedPrecondition saying how to attach one; a tokenizer larger than the
// config's vocabulary is refused.
absl::StatusOr<PromptModel> LoadPromptModel(const std::string& dir, const std::string& tokenizer_dir = "");

}  // namespace ssd

#endif  // SSD_COMMON_SAMPLING_PROMPT_MODEL_H_
