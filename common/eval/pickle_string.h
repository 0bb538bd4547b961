// A restricted pickle reader that accepts exactly one thing: a pickled
// Python str, protocols 2 to 5. LiveCodeBench ships private test cases as
// base64(zlib(pickle(json string))); a general unpickler would execute
// whatever the file asks for, so this one knows only the opcodes a single
// str can produce and rejects everything else, naming the byte offset.
//
// Accepted stream: PROTO(2..5), then FRAME headers (protocol >= 4) anywhere
// between opcodes, one of SHORT_BINUNICODE / BINUNICODE / BINUNICODE8, any
// memo opcodes (BINPUT, LONG_BINPUT, MEMOIZE), STOP, and nothing after STOP.
#ifndef SSD_COMMON_EVAL_PICKLE_STRING_H_
#define SSD_COMMON_EVAL_PICKLE_STRING_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

// Returns the UTF-8 text of the pickled str. Lengths are checked against the
// remaining input before anything is allocated, and the result may not
// exceed `max_bytes`.
absl::StatusOr<std::string> UnpickleString(absl::string_view bytes, size_t max_bytes = size_t{1} << 30);

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_PICKLE_STRING_H_
