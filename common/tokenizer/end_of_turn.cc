#include "common/tokenizer/end_of_turn.h"

#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {

std::vector<int32_t> TurnEndTokenIds(const Tokenizer& tokenizer) {
  std::vector<int32_t> out;
  for (const char* name : {"<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end_of_text|>"}) {
    if (std::optional<int32_t> id = tokenizer.TokenToId(name); id.has_value()) out.push_back(*id);
  }
  return out;
}

absl::StatusOr<std::optional<int32_t>> EndOfTurnTokenId(const std::string& tokenizer_dir, const Tokenizer& tokenizer) {
  for (const char* name : {"<|im_end|>", "<|eot_id|>"}) {
    if (std::optional<int32_t> id = tokenizer.TokenToId(name); id.has_value()) return id;
  }
  const std::string path = JoinPath(tokenizer_dir, "tokenizer_config.json");
  if (!PathExists(path)) return std::optional<int32_t>();
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, size_t{64} << 20));
  const nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
  }
  auto it = config.find("eos_token");
  std::string name;
  if (it != config.end() && it->is_string()) {
    name = it->get<std::string>();
  } else if (it != config.end() && it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    name = (*it)["content"].get<std::string>();  // AddedToken form
  }
  if (name.empty()) return std::optional<int32_t>();
  return tokenizer.TokenToId(name);
}

}  // namespace ssd
