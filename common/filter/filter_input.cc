#include "common/filter/filter_input.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/chat/chat_record.h"
#include "common/util/json.h"
#include "common/util/jsonl.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using Json = nlohmann::ordered_json;

absl::Status ParseSampleLine(const Json& j, FilterInputSample* s) {
  if (!j["prompt_id"].is_string()) return absl::InvalidArgumentError("\"prompt_id\" must be a string");
  if (!j.contains("sample_index") || !j["sample_index"].is_number_integer()) {
    return absl::InvalidArgumentError("\"sample_index\" must be an integer");
  }
  if (!j.contains("text") || !j["text"].is_string()) return absl::InvalidArgumentError("\"text\" must be a string");
  if (!j.contains("messages")) {
    return absl::InvalidArgumentError(
        "a sample line without \"messages\" (written by an older ssd sample): sample again, or use the file "
        "`ssd sample --sft-out` writes");
  }
  RETURN_IF_ERROR(ValidateMessages(j["messages"]));
  if (auto it = j.find("num_tokens"); it != j.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0) {
      return absl::InvalidArgumentError("\"num_tokens\" must be a non-negative integer");
    }
    s->num_tokens = it->get<int64_t>();
  }
  s->answer = j["text"].get<std::string>();
  // The sample's identity, so ties at the cut do not depend on line order.
  s->key = absl::StrFormat("s:%s\x1f%012d", j["prompt_id"].get<std::string>(), j["sample_index"].get<int64_t>());
  Json messages = j["messages"];
  messages.push_back({{"role", "assistant"}, {"content", s->answer}});
  s->sft_line = ChatRecordLine(messages) + "\n";
  return absl::OkStatus();
}

absl::Status ParseChatLine(const Json& j, FilterInputSample* s) {
  const Json& messages = j["messages"];
  RETURN_IF_ERROR(ValidateAnswered(messages));
  s->answer = messages.back()["content"].get<std::string>();
  s->sft_line = ChatRecordLine(messages) + "\n";
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FilterInput> ReadFilterInput(const std::vector<std::string>& paths) {
  FilterInput out;
  for (size_t file = 0; file < paths.size(); ++file) {
    const std::string& path = paths[file];
    ASSIGN_OR_RETURN(
        JsonlStats stats, ReadJsonlFile(path, JsonlOptions(), [&](const JsonlLine& line) -> absl::Status {
          ASSIGN_OR_RETURN(Json j, ParseJsonObject(line.text));
          FilterInputSample s;
          if (j.contains("prompt_id")) {
            RETURN_IF_ERROR(ParseSampleLine(j, &s));
          } else if (j.contains("messages")) {
            RETURN_IF_ERROR(ParseChatLine(j, &s));
            s.key = absl::StrFormat("c:%06d:%012d", file, line.number);
          } else {
            return absl::InvalidArgumentError(
                "neither a chat line ({\"messages\": [..., assistant]}) nor an `ssd sample` line (\"prompt_id\", "
                "\"text\", \"messages\")");
          }
          out.samples.push_back(std::move(s));
          return absl::OkStatus();
        }));
    for (std::string& e : stats.errors) out.errors.push_back(std::move(e));
  }
  return out;
}

}  // namespace ssd
