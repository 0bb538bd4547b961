// A compiled PCRE2 pattern (UTF + Unicode properties, JIT) for the
// pre-tokenizer splits. Hugging Face patterns use look-ahead and \p{...}
// classes, which RE2 cannot express.
//
// Inputs must already be valid UTF-8: matching runs with PCRE2_NO_UTF_CHECK,
// without which PCRE2 re-validates the rest of the subject at every match
// and splitting becomes quadratic. Thread-safe: the compiled code is shared,
// match data is per call.
#ifndef SSD_COMMON_TOKENIZER_REGEX_H_
#define SSD_COMMON_TOKENIZER_REGEX_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

class Regex {
 public:
  // `literal` matches the pattern text verbatim.
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(const std::string& pattern, bool literal = false);
  ~Regex();

  // Non-overlapping matches, left to right, as [begin, end) byte offsets.
  absl::Status FindAll(absl::string_view text, std::vector<std::pair<size_t, size_t>>* out) const;

 private:
  Regex() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_REGEX_H_
