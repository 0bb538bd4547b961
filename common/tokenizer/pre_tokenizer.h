// Hugging Face pre-tokenizers: Split (regex or literal, "Isolated"),
// ByteLevel and Sequence. A pre-tokenizer turns normalized text into the
// pieces BPE encodes independently. Unsupported types or behaviours are
// refused at load time with a message naming them.
#ifndef SSD_COMMON_TOKENIZER_PRE_TOKENIZER_H_
#define SSD_COMMON_TOKENIZER_PRE_TOKENIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace ssd {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits `text` and hands each piece, in order, to `emit`. The view is
  // valid only during the call. Pieces are valid UTF-8 (before ByteLevel) or
  // byte-level strings (after it). Streaming, so encoding a long text
  // allocates no per-piece strings.
  virtual absl::Status Split(absl::string_view text, absl::FunctionRef<void(absl::string_view)> emit) const = 0;
};

// `spec` is the "pre_tokenizer" value of tokenizer.json (null gives nullptr).
absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizerFromJson(const nlohmann::json& spec,
                                                                   const std::string& where);

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_PRE_TOKENIZER_H_
