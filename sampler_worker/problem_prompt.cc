#include "sampler_worker/problem_prompt.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {

absl::StatusOr<std::vector<int64_t>> ProblemPromptIds(const v1::Problem& p, const ChatTemplate* chat,
                                                      const Tokenizer& tokenizer, bool enable_thinking) {
  std::string text;
  if (!p.messages_json().empty()) {
    const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(p.messages_json(), nullptr, false);
    if (messages.is_discarded() || !messages.is_array()) {
      return absl::InvalidArgumentError(absl::StrCat("problem \"", p.id(), "\": messages_json does not parse"));
    }
    if (chat != nullptr) {
      ChatOptions o;
      o.add_generation_prompt = true;
      o.extra["enable_thinking"] = enable_thinking;
      ASSIGN_OR_RETURN(text, chat->Render(messages, o));
    } else if (messages.size() == 1 && messages[0].contains("content") && messages[0]["content"].is_string()) {
      // No chat template: one user turn goes in raw, as `ssd sample` sends a
      // LiveCodeBench problem to such a model.
      text = messages[0]["content"].get<std::string>();
    } else {
      return absl::FailedPreconditionError(
          absl::StrCat("problem \"", p.id(), "\" is a conversation, but the model folder has no chat template"));
    }
  } else {
    text = p.raw_prompt();
  }
  EncodeOptions eo;
  eo.allow_special = true;
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer.Encode(text, eo));
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat("problem \"", p.id(), "\": the prompt is empty"));
  return std::vector<int64_t>(ids.begin(), ids.end());
}

}  // namespace ssd
