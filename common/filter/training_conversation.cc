#include "common/filter/training_conversation.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ssd {

absl::StatusOr<std::string> TrainingConversationLine(const v1::Problem& problem, absl::string_view text) {
  using Json = nlohmann::ordered_json;
  Json messages;
  if (!problem.messages_json().empty()) {
    messages = Json::parse(problem.messages_json(), nullptr, false);
    if (messages.is_discarded() || !messages.is_array()) {
      return absl::DataLossError(absl::StrCat("problem ", problem.id(), ": its stored messages do not parse"));
    }
  } else {
    messages = Json::array({Json{{"role", "user"}, {"content", problem.raw_prompt()}}});
  }
  messages.push_back(Json{{"role", "assistant"}, {"content", std::string(text)}});
  Json line{{"messages", std::move(messages)}};
  return line.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace ssd
