#include "common/sampling/prompt_model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/model/checkpoint_files.h"
#include "common/tokenizer/end_of_turn.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {

absl::StatusOr<PromptModel> LoadPromptModel(const std::string& dir_in, const std::string& tokenizer_dir) {
  PromptModel p;
  p.dir = ResolveModelDir(dir_in);
  p.tokenizer_dir = tokenizer_dir.empty() ? p.dir : tokenizer_dir;
  if (!PathExists(JoinPath(p.dir, "config.json"))) {
    return absl::NotFoundError(absl::StrCat(
        dir_in, PathExists(p.dir) ? " is not a model folder: it has no config.json" : ": no such model folder"));
  }
  // Before anything large: a folder without a tokenizer is the common
  // mistake.
  if (!PathExists(JoinPath(p.tokenizer_dir, "tokenizer.json"))) {
    if (tokenizer_dir.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir_in,
                       " has no tokenizer.json: pass --tokenizer DIR or copy it in with "
                       "`ssd model init --tokenizer`"));
    }
    return absl::FailedPreconditionError(absl::StrCat("--tokenizer ", tokenizer_dir, " has no tokenizer.json"));
  }
  ASSIGN_OR_RETURN(p.config, LoadModelConfig(p.dir));
  ASSIGN_OR_RETURN(p.tokenizer, Tokenizer::Load(p.tokenizer_dir));
  if (p.tokenizer->vocab_size() > p.config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(p.tokenizer_dir, ": the tokenizer has ", p.tokenizer->vocab_size(),
                                                   " tokens but ", p.dir, "/config.json's vocab_size is ",
                                                   p.config.vocab_size, "; they do not belong together"));
  }
  if (PathExists(JoinPath(p.tokenizer_dir, "tokenizer_config.json"))) {
    // A folder without a chat_template still serves raw prompts.
    absl::StatusOr<std::unique_ptr<ChatTemplate>> chat = ChatTemplate::Load(p.tokenizer_dir);
    if (chat.ok()) p.chat = std::move(*chat);
  }
  p.default_stop_ids = p.config.eos_token_ids;
  for (int32_t id : TurnEndTokenIds(*p.tokenizer)) p.default_stop_ids.push_back(id);
  std::sort(p.default_stop_ids.begin(), p.default_stop_ids.end());
  p.default_stop_ids.erase(std::unique(p.default_stop_ids.begin(), p.default_stop_ids.end()), p.default_stop_ids.end());
  return p;
}

}  // namespace ssd
