// Parsing JSON text with one error style for every reader in ssd: the error
// names the byte offset and what the parser expected, and never throws.
//
//   ASSIGN_OR_RETURN(nlohmann::ordered_json j, ParseJsonObject(line));
//   -> "not valid JSON at byte 12: syntax error while parsing object key - ..."
//   -> "expected a JSON object, got an array"
//
// Callers prefix the file, line or field ("train.jsonl:7: ...").
#ifndef SSD_COMMON_UTIL_JSON_H_
#define SSD_COMMON_UTIL_JSON_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace ssd {

// "not valid JSON at byte N: <what the parser says>" for a syntax error
// (N counts from `base_offset`, for text that starts inside a file), or
// "not valid JSON: <what>" for input that is well formed but still refused
// (a number out of range, 1e999).
absl::Status JsonParseError(const nlohmann::json::exception& e, int64_t base_offset = 0);

// The name of a value's JSON type, for "expected X, got Y" messages.
const char* JsonTypeName(const nlohmann::ordered_json& j);
const char* JsonTypeName(const nlohmann::json& j);

// Parses one JSON value. `J` is nlohmann::json or nlohmann::ordered_json.
// `base_offset` is added to the byte offsets errors name.
template <typename J = nlohmann::ordered_json>
absl::StatusOr<J> ParseJson(absl::string_view text, int64_t base_offset = 0) {
  try {
    return J::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return JsonParseError(e, base_offset);
  }
}

// Parses one JSON value that must be an object.
template <typename J = nlohmann::ordered_json>
absl::StatusOr<J> ParseJsonObject(absl::string_view text) {
  absl::StatusOr<J> j = ParseJson<J>(text);
  if (j.ok() && !j->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("expected a JSON object, got ", JsonTypeName(*j)));
  }
  return j;
}

// One line of JSON: no indentation, and bytes that are not UTF-8 become
// U+FFFD instead of an exception (model output can hold such bytes).
std::string DumpJsonLine(const nlohmann::ordered_json& j);
std::string DumpJsonLine(const nlohmann::json& j);

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_JSON_H_
