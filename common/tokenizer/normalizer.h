// Hugging Face normalizers: NFC and Sequence. Any other type is refused at
// load time with a message naming it, never silently skipped.
#ifndef SSD_COMMON_TOKENIZER_NORMALIZER_H_
#define SSD_COMMON_TOKENIZER_NORMALIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace ssd {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `text` is valid UTF-8; so is the result.
  virtual std::string Normalize(absl::string_view text) const = 0;
};

// `spec` is the "normalizer" value of tokenizer.json (null gives nullptr).
// `where` names the file in errors.
absl::StatusOr<std::unique_ptr<Normalizer>> NormalizerFromJson(const nlohmann::json& spec, const std::string& where);

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_NORMALIZER_H_
