#include "common/filter/filter_input.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using Json = nlohmann::ordered_json;

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n"; }

// Every message an object with string "role" and "content".
absl::Status CheckMessages(const Json& messages) {
  if (!messages.is_array() || messages.empty()) return absl::InvalidArgumentError("\"messages\" must be a non-empty array");
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("messages[", i, "] must be an object with string \"role\" and \"content\""));
    }
  }
  return absl::OkStatus();
}

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
  RETURN_IF_ERROR(CheckMessages(j["messages"]));
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
  s->sft_line = Dump(Json{{"messages", std::move(messages)}});
  return absl::OkStatus();
}

absl::Status ParseChatLine(const Json& j, FilterInputSample* s) {
  const Json& messages = j["messages"];
  RETURN_IF_ERROR(CheckMessages(messages));
  if (messages.back()["role"] != "assistant") {
    return absl::InvalidArgumentError("the last message must be the assistant's answer");
  }
  if (messages.size() < 2) return absl::InvalidArgumentError("an answer needs a prompt before it");
  s->answer = messages.back()["content"].get<std::string>();
  s->sft_line = Dump(Json{{"messages", messages}});
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FilterInput> ReadFilterInput(const std::vector<std::string>& paths) {
  FilterInput out;
  for (size_t file = 0; file < paths.size(); ++file) {
    const std::string& path = paths[file];
    ASSIGN_OR_RETURN(std::string data, ReadFileToString(path, size_t{16} << 30));
    int64_t line_no = 0;
    for (absl::string_view line : absl::StrSplit(data, '\n')) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == absl::string_view::npos) continue;
      auto fail = [&](absl::string_view why) { out.errors.push_back(absl::StrCat(path, ":", line_no, ": ", why)); };
      const Json j = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) {
        fail("not valid JSON");
        continue;
      }
      if (!j.is_object()) {
        fail("not a JSON object");
        continue;
      }
      FilterInputSample s;
      absl::Status st;
      if (j.contains("prompt_id")) {
        st = ParseSampleLine(j, &s);
      } else if (j.contains("messages")) {
        st = ParseChatLine(j, &s);
        s.key = absl::StrFormat("c:%06d:%012d", file, line_no);
      } else {
        st = absl::InvalidArgumentError(
            "neither a chat line ({\"messages\": [..., assistant]}) nor an `ssd sample` line (\"prompt_id\", "
            "\"text\", \"messages\")");
      }
      if (!st.ok()) {
        fail(st.message());
        continue;
      }
      out.samples.push_back(std::move(s));
    }
  }
  return out;
}

}  // namespace ssd
