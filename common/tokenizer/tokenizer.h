// Tokenizer: a Hugging Face tokenizer.json (Qwen2/Qwen3, Llama-3, GPT-2
// families) with the exact encode/decode semantics of the reference
// implementation.
//
// Encode pipeline: split around added tokens (raw text) -> normalizer on each
// plain segment -> pre-tokenizer -> BPE per piece. No special tokens are
// added (post-processor templates such as Llama-3's BOS are not applied).
// Decode: added tokens verbatim (or skipped when special and asked to),
// vocabulary tokens through the ByteLevel decoder and <0xXX> byte tokens,
// then invalid UTF-8 is replaced by U+FFFD.
//
// Every component tokenizer.json names must be supported; an unsupported one
// fails Load() with a message naming it. Thread-safe after Load().
#ifndef SSD_COMMON_TOKENIZER_TOKENIZER_H_
#define SSD_COMMON_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tokenizer/added_vocabulary.h"
#include "common/tokenizer/bpe_model.h"
#include "common/tokenizer/normalizer.h"
#include "common/tokenizer/pre_tokenizer.h"

namespace ssd {

struct EncodeOptions {
  // Recognize special added tokens (<|im_start|>, ...) in the text. Off by
  // default: untrusted text is tokenized as text.
  bool allow_special = false;
};

class Tokenizer {
 public:
  // `path` is a model folder holding tokenizer.json, or the file itself.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path);
  // Parses tokenizer.json text; `where` names it in errors.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(absl::string_view json_text, const std::string& where);

  // Fails only on invalid UTF-8, naming the byte offset.
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text, const EncodeOptions& options = {}) const;
  // Fails on ids outside the vocabulary, naming the position.
  absl::StatusOr<std::string> Decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // The raw bytes of one token (before UTF-8 repair), for streaming decode.
  absl::StatusOr<std::string> TokenBytes(int32_t id) const;

  std::optional<int32_t> TokenToId(absl::string_view token) const;
  // One past the largest id (vocabulary and added tokens).
  int32_t vocab_size() const { return vocab_size_; }
  const AddedVocabulary& added() const { return added_; }

 private:
  Tokenizer() = default;

  AddedVocabulary added_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  bool byte_level_decoder_ = false;
  int32_t vocab_size_ = 0;
};

// transformers' `clean_up_tokenization_spaces` post-processing of decoded
// text (" ." -> ".", " n't" -> "n't", " ' " -> "'", ...), which Llama-3's
// tokenizer_config.json enables. Decode() never applies it: it alters code
// ("a != b" becomes "a!= b"), so generated programs keep their exact text.
std::string CleanUpTokenizationSpaces(absl::string_view text);

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_TOKENIZER_H_
