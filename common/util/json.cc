#include "common/util/json.h"

namespace ssd {
namespace {

template <typename J>
const char* TypeName(const J& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number";
    case nlohmann::json::value_t::binary: return "binary data";
    case nlohmann::json::value_t::discarded: return "nothing";
  }
  return "an unknown type";
}

}  // namespace

absl::Status JsonParseError(const nlohmann::json::exception& e, int64_t base_offset) {
  // what() reads "[json.exception.parse_error.101] parse error at line 1,
  // column 5: syntax error while parsing value - ...": keep what follows the
  // library's id and position, and give the position as a byte offset.
  absl::string_view what = e.what();
  if (const auto* p = dynamic_cast<const nlohmann::json::parse_error*>(&e)) {
    const size_t colon = what.find(": ");
    if (colon != absl::string_view::npos) what.remove_prefix(colon + 2);
    // The parser counts the byte it stopped at from 1; an offset counts from 0.
    const int64_t offset = base_offset + (p->byte > 0 ? static_cast<int64_t>(p->byte) - 1 : 0);
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON at byte ", offset, ": ", what));
  }
  const size_t bracket = what.find("] ");
  if (what.substr(0, 1) == "[" && bracket != absl::string_view::npos) what.remove_prefix(bracket + 2);
  return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", what));
}

const char* JsonTypeName(const nlohmann::ordered_json& j) { return TypeName(j); }
const char* JsonTypeName(const nlohmann::json& j) { return TypeName(j); }

std::string DumpJsonLine(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}
std::string DumpJsonLine(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ssd
