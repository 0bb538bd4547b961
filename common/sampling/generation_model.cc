#include "common/sampling/generation_model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {

absl::StatusOr<GenerationModel> LoadGenerationModel(const std::string& dir, DecoderOptions options) {
  GenerationModel g;
  options.batch_invariant = true;
  ASSIGN_OR_RETURN(std::unique_ptr<Decoder> model, Decoder::Load(dir, options));
  g.model = std::shared_ptr<const Decoder>(std::move(model));
  ASSIGN_OR_RETURN(g.tokenizer, Tokenizer::Load(dir));
  if (g.tokenizer->vocab_size() > g.model->config().vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": the tokenizer has ", g.tokenizer->vocab_size(),
                                                   " tokens but config.json's vocab_size is ",
                                                   g.model->config().vocab_size, "; they do not belong together"));
  }
  if (PathExists(JoinPath(dir, "tokenizer_config.json"))) {
    // A folder without a chat_template still serves raw prompts.
    absl::StatusOr<std::unique_ptr<ChatTemplate>> chat = ChatTemplate::Load(dir);
    if (chat.ok()) g.chat = std::move(*chat);
  }
  g.default_stop_ids = g.model->config().eos_token_ids;
  for (const char* name : {"<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end_of_text|>"}) {
    if (auto id = g.tokenizer->TokenToId(name); id.has_value()) g.default_stop_ids.push_back(*id);
  }
  std::sort(g.default_stop_ids.begin(), g.default_stop_ids.end());
  g.default_stop_ids.erase(std::unique(g.default_stop_ids.begin(), g.default_stop_ids.end()),
                           g.default_stop_ids.end());
  return g;
}

}  // namespace ssd
