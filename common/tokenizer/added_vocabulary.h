// Added tokens of a tokenizer.json ("added_tokens"): strings matched in the
// raw text before normalization and BPE, each becoming its own id.
//
// Matching is leftmost-longest. Options honoured per token, as Hugging Face
// defines them: lstrip / rstrip make the token absorb the whitespace on its
// left / right; single_word requires that no word character (alphanumeric or
// '_') touches it. Special tokens are recognized only when the caller allows
// them (text from users or models must not smuggle in <|im_end|>); other
// added tokens always are. Tokens marked normalized are matched against the
// raw text too, which is identical for the NFC normalizer on ASCII tokens.
#ifndef SSD_COMMON_TOKENIZER_ADDED_VOCABULARY_H_
#define SSD_COMMON_TOKENIZER_ADDED_VOCABULARY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace ssd {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

class AddedVocabulary {
 public:
  static absl::StatusOr<AddedVocabulary> FromJson(const nlohmann::json& added_tokens, const std::string& where);

  // A piece of the input: either plain text (token_id < 0) or an added token.
  struct Segment {
    absl::string_view text;
    int32_t token_id = -1;
  };
  // Splits `text` (valid UTF-8) around added tokens.
  std::vector<Segment> Split(absl::string_view text, bool allow_special) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  // nullptr when `id` is not an added token.
  const AddedToken* Find(int32_t id) const;
  const AddedToken* FindContent(absl::string_view content) const;

 private:
  std::vector<AddedToken> tokens_;
  std::vector<std::vector<int>> by_first_byte_;          // token indices, longest first
  absl::flat_hash_map<int32_t, size_t> by_id_;           // id -> index in tokens_
  absl::flat_hash_map<std::string, size_t> by_content_;  // content -> index
};

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_ADDED_VOCABULARY_H_
