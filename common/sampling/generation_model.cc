#include "common/sampling/generation_model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/model/checkpoint_files.h"
#include "common/tokenizer/end_of_turn.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {

absl::StatusOr<GenerationModel> LoadGenerationModel(const std::string& dir_in, DecoderOptions options,
                                                    const std::string& tokenizer_dir) {
  GenerationModel g;
  g.dir = ResolveModelDir(dir_in);
  g.tokenizer_dir = tokenizer_dir.empty() ? g.dir : tokenizer_dir;
  if (!PathExists(JoinPath(g.dir, "config.json"))) {
    return absl::NotFoundError(absl::StrCat(
        dir_in, PathExists(g.dir) ? " is not a model folder: it has no config.json" : ": no such model folder"));
  }
  // Before the weights: a folder without a tokenizer is the common mistake,
  // and loading a large model first would only delay the message.
  if (!PathExists(JoinPath(g.tokenizer_dir, "tokenizer.json"))) {
    if (tokenizer_dir.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir_in,
                       " has no tokenizer.json: pass --tokenizer DIR or copy it in with "
                       "`ssd model init --tokenizer`"));
    }
    return absl::FailedPreconditionError(absl::StrCat("--tokenizer ", tokenizer_dir, " has no tokenizer.json"));
  }
  options.batch_invariant = true;
  ASSIGN_OR_RETURN(std::unique_ptr<Decoder> model, Decoder::Load(g.dir, options));
  g.model = std::shared_ptr<const Decoder>(std::move(model));
  ASSIGN_OR_RETURN(g.tokenizer, Tokenizer::Load(g.tokenizer_dir));
  if (g.tokenizer->vocab_size() > g.model->config().vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(g.tokenizer_dir, ": the tokenizer has ", g.tokenizer->vocab_size(),
                                                   " tokens but ", g.dir, "/config.json's vocab_size is ",
                                                   g.model->config().vocab_size, "; they do not belong together"));
  }
  if (PathExists(JoinPath(g.tokenizer_dir, "tokenizer_config.json"))) {
    // A folder without a chat_template still serves raw prompts.
    absl::StatusOr<std::unique_ptr<ChatTemplate>> chat = ChatTemplate::Load(g.tokenizer_dir);
    if (chat.ok()) g.chat = std::move(*chat);
  }
  g.default_stop_ids = g.model->config().eos_token_ids;
  for (int32_t id : TurnEndTokenIds(*g.tokenizer)) g.default_stop_ids.push_back(id);
  std::sort(g.default_stop_ids.begin(), g.default_stop_ids.end());
  g.default_stop_ids.erase(std::unique(g.default_stop_ids.begin(), g.default_stop_ids.end()), g.default_stop_ids.end());
  return g;
}

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const GenerationModel& gm, EngineOptions options) {
  options.default_stop_ids = gm.default_stop_ids;
  return Engine::Create(gm.model, gm.tokenizer.get(), options);
}

}  // namespace ssd
