#include "common/chat/chat_record.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/json.h"
#include "common/util/status_macros.h"

namespace ssd {

template <typename J>
absl::Status ValidateMessages(const J& messages) {
  if (!messages.is_array() || messages.empty()) {
    return absl::InvalidArgumentError("\"messages\" must be a non-empty array");
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const J& m = messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("messages[", i, "] must be an object with string \"role\" and \"content\""));
    }
  }
  return absl::OkStatus();
}

template <typename J>
absl::Status ValidateTrainable(const J& messages) {
  RETURN_IF_ERROR(ValidateMessages(messages));
  for (const J& m : messages) {
    if (m["role"] == "assistant") return absl::OkStatus();
  }
  return absl::InvalidArgumentError("\"messages\" has no assistant turn, so there is nothing to train on");
}

template <typename J>
absl::Status ValidateAnswered(const J& messages) {
  RETURN_IF_ERROR(ValidateMessages(messages));
  if (messages.size() < 2 || messages.back()["role"] != "assistant") {
    return absl::InvalidArgumentError(
        "\"messages\" must be a prompt and its answer: at least two messages, the last the assistant's");
  }
  return absl::OkStatus();
}

template absl::Status ValidateMessages(const nlohmann::json&);
template absl::Status ValidateMessages(const nlohmann::ordered_json&);
template absl::Status ValidateTrainable(const nlohmann::json&);
template absl::Status ValidateTrainable(const nlohmann::ordered_json&);
template absl::Status ValidateAnswered(const nlohmann::json&);
template absl::Status ValidateAnswered(const nlohmann::ordered_json&);

using Json = nlohmann::ordered_json;

absl::StatusOr<Json> ParseChatRecord(absl::string_view line) {
  ASSIGN_OR_RETURN(Json j, ParseJsonObject(line));
  Json messages;
  if (j.contains("messages")) {
    messages = std::move(j["messages"]);
  } else if (j.contains("prompt")) {
    const char* reply_key = j.contains("response") ? "response" : "completion";
    if (!j["prompt"].is_string() || !j.contains(reply_key) || !j[reply_key].is_string()) {
      return absl::InvalidArgumentError("a prompt/response pair needs string \"prompt\" and \"response\" fields");
    }
    messages = Json::array({Json{{"role", "user"}, {"content", std::move(j["prompt"])}},
                            Json{{"role", "assistant"}, {"content", std::move(j[reply_key])}}});
  } else {
    return absl::InvalidArgumentError("expected a \"messages\" list or \"prompt\"/\"response\" fields");
  }
  RETURN_IF_ERROR(ValidateMessages(messages));
  return messages;
}

std::string ChatRecordLine(const Json& messages) { return DumpJsonLine(Json{{"messages", messages}}); }

absl::StatusOr<Json> SampleConversation(absl::string_view messages_json, absl::string_view raw_prompt,
                                        absl::string_view answer) {
  Json messages;
  if (!messages_json.empty()) {
    absl::StatusOr<Json> parsed = ParseJson(messages_json);
    if (!parsed.ok() || !ValidateMessages(*parsed).ok()) {
      return absl::DataLossError(
          absl::StrCat("the problem's stored messages are not a list of messages: ",
                       parsed.ok() ? ValidateMessages(*parsed).message() : parsed.status().message()));
    }
    messages = std::move(*parsed);
  } else {
    messages = Json::array({Json{{"role", "user"}, {"content", std::string(raw_prompt)}}});
  }
  messages.push_back(Json{{"role", "assistant"}, {"content", std::string(answer)}});
  return messages;
}

absl::StatusOr<std::string> SampleConversationLine(absl::string_view messages_json, absl::string_view raw_prompt,
                                                   absl::string_view answer) {
  ASSIGN_OR_RETURN(Json messages, SampleConversation(messages_json, raw_prompt, answer));
  return ChatRecordLine(messages);
}

}  // namespace ssd
