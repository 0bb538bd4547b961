#include "common/sampling/prompt_file.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/chat/chat_record.h"
#include "common/util/json.h"
#include "common/util/jsonl.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using Json = nlohmann::ordered_json;

absl::StatusOr<std::string> IdOf(const Json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return absl::InvalidArgumentError(absl::StrCat("missing \"", field, "\""));
  if (it->is_string()) {
    if (it->get<std::string>().empty()) return absl::InvalidArgumentError(absl::StrCat("\"", field, "\" is empty"));
    return it->get<std::string>();
  }
  if (it->is_number_integer()) return it->dump();
  return absl::InvalidArgumentError(absl::StrCat("\"", field, "\" must be a string or an integer"));
}

absl::StatusOr<std::string> StringField(const Json& j, const char* field, bool required) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat("missing \"", field, "\""));
    return std::string();
  }
  if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat("\"", field, "\" must be a string"));
  return it->get<std::string>();
}

absl::StatusOr<std::string> RenderChat(const ChatTemplate* chat, const Json& messages) {
  if (chat == nullptr) {
    return absl::InvalidArgumentError("\"messages\" needs a chat template, and the model folder has none");
  }
  ChatOptions o;
  o.add_generation_prompt = true;
  return chat->Render(messages, o);
}

// The prompt text of one parsed line, its id and its conversation.
absl::Status ParseLine(const Json& j, const ChatTemplate* chat, const PromptTemplates& templates, std::string* id,
                       std::string* text, Json* conversation) {
  if (!j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  if (j.contains("question_content")) {
    ASSIGN_OR_RETURN(*id, IdOf(j, "question_id"));
    ASSIGN_OR_RETURN(std::string content, StringField(j, "question_content", true));
    ASSIGN_OR_RETURN(std::string starter, StringField(j, "starter_code", false));
    ASSIGN_OR_RETURN(std::string prompt, FormatSsdPrompt(templates, content, starter));
    *conversation = Json::array({Json{{"role", "user"}, {"content", prompt}}});
    if (chat == nullptr) {
      *text = std::move(prompt);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(*text, RenderChat(chat, *conversation));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(*id, IdOf(j, "id"));
  const bool has_prompt = j.contains("prompt"), has_messages = j.contains("messages");
  if (has_prompt == has_messages) {
    return absl::InvalidArgumentError("needs exactly one of \"prompt\" or \"messages\" (or a LiveCodeBench problem)");
  }
  if (has_prompt) {
    ASSIGN_OR_RETURN(*text, StringField(j, "prompt", true));
    *conversation = Json::array({Json{{"role", "user"}, {"content", *text}}});
    return absl::OkStatus();
  }
  const Json& messages = j["messages"];
  RETURN_IF_ERROR(ValidateMessages(messages));
  ASSIGN_OR_RETURN(*text, RenderChat(chat, messages));
  *conversation = messages;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PromptFile> LoadPromptFile(const std::string& path, const Tokenizer& tokenizer, const ChatTemplate* chat,
                                          const PromptTemplates& templates) {
  PromptFile out;
  std::set<std::string> ids;
  ASSIGN_OR_RETURN(JsonlStats stats, ReadJsonlFile(path, JsonlOptions(), [&](const JsonlLine& line) -> absl::Status {
                     ASSIGN_OR_RETURN(Json j, ParseJson(line.text));
                     PromptEntry e;
                     e.line = line.number;
                     std::string text;
                     Json conversation;
                     RETURN_IF_ERROR(ParseLine(j, chat, templates, &e.id, &text, &conversation));
                     if (auto mt = j.find("max_tokens"); mt != j.end()) {
                       if (!mt->is_number_integer() || mt->get<int64_t>() <= 0) {
                         return absl::InvalidArgumentError("\"max_tokens\" must be a positive integer");
                       }
                       e.max_tokens = mt->get<int64_t>();
                     }
                     if (!ids.insert(e.id).second) {
                       return absl::InvalidArgumentError(absl::StrCat("id \"", e.id, "\" appears on an earlier line"));
                     }
                     EncodeOptions eo;
                     eo.allow_special = true;
                     absl::StatusOr<std::vector<int32_t>> tokens = tokenizer.Encode(text, eo);
                     if (!tokens.ok()) return absl::InvalidArgumentError(tokens.status().message());
                     if (tokens->empty()) return absl::InvalidArgumentError("the prompt is empty");
                     e.ids.assign(tokens->begin(), tokens->end());
                     e.text = std::move(text);
                     e.messages_json = DumpJsonLine(conversation);
                     out.prompts.push_back(std::move(e));
                     return absl::OkStatus();
                   }));
  out.errors = std::move(stats.errors);
  return out;
}

}  // namespace ssd
