// zlib and gzip decompression with an output cap, so that a small hostile
// input cannot expand into gigabytes.
#ifndef SSD_COMMON_EVAL_INFLATE_H_
#define SSD_COMMON_EVAL_INFLATE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

enum class InflateFormat {
  kZlib,  // RFC 1950, what Python's zlib.compress writes
  kGzip,  // RFC 1952, .gz files
};

// Decompresses all of `bytes`. Fails on corrupt or truncated data, on bytes
// after the end of the stream, and when the output would exceed
// `max_output_bytes`.
absl::StatusOr<std::string> Inflate(absl::string_view bytes, InflateFormat format,
                                    size_t max_output_bytes = size_t{1} << 30);

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_INFLATE_H_
