// Strict standard-alphabet base64 (RFC 4648 section 4) decoding, as Python's
// base64.b64encode writes it: no line breaks, '=' padding to a multiple of 4.
#ifndef SSD_COMMON_EVAL_BASE64_H_
#define SSD_COMMON_EVAL_BASE64_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

// Decodes `text`. Rejects characters outside the alphabet (naming the
// offset), a length that is not a multiple of 4, misplaced padding and
// non-zero bits after the last byte, so that every input has at most one
// meaning.
absl::StatusOr<std::string> Base64Decode(absl::string_view text);

// The inverse, for tests and fixtures.
std::string Base64Encode(absl::string_view bytes);

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_BASE64_H_
