// Reading JSON Lines: every JSONL reader in ssd (problem files, benchmarks,
// prompt files, solutions, `ssd filter` inputs, SFT data, `ssd import`)
// walks its lines through this, so they share one line limit, one
// bad-line policy and one error format:
//
//   "<source>:<line>: <what>"        e.g. "train.jsonl:12: not valid JSON at byte 3: ..."
//
// Lines are numbered from 1; blank lines (spaces, tabs, \r only) are
// skipped but counted. A line over `max_line_bytes` is a bad line (the
// reader skips to its end without holding it).
//
// The visitor returns OK, or an error for a bad line. What happens to a bad
// line is the policy's:
//   kFail     the first one ends the read with its error (prefixed);
//   kCollect  all are kept in JsonlStats::errors, and the read goes on
//             (callers that refuse a whole file show them together);
//   kSkip     they are counted, the first kMaxKeptErrors kept, and the
//             read goes on.
// A visitor error whose code is not INVALID_ARGUMENT is not a bad line but
// a reason to stop (a limit reached, a broken model): it ends the read
// whatever the policy, prefixed with the source and line.
#ifndef SSD_COMMON_UTIL_JSONL_H_
#define SSD_COMMON_UTIL_JSONL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

enum class BadLinePolicy { kFail, kCollect, kSkip };

struct JsonlOptions {
  BadLinePolicy on_bad_line = BadLinePolicy::kCollect;
  int64_t max_line_bytes = int64_t{512} << 20;
};

struct JsonlLine {
  int64_t number = 0;      // 1-based
  absl::string_view text;  // without the newline
};

struct JsonlStats {
  static constexpr size_t kMaxKeptErrors = 100;
  int64_t lines = 0;      // non-blank lines read
  int64_t bad_lines = 0;  // visitor errors and over-long lines
  // "<source>:<line>: <what>", every one under kCollect, the first
  // kMaxKeptErrors under kSkip.
  std::vector<std::string> errors;
};

using JsonlVisitor = std::function<absl::Status(const JsonlLine& line)>;

// Streams the file at `path` (it is never held whole). NOT_FOUND when it
// cannot be opened, DATA_LOSS on a read error, both naming the path.
absl::StatusOr<JsonlStats> ReadJsonlFile(const std::string& path, const JsonlOptions& options,
                                         const JsonlVisitor& visit);

// The same over bytes already in memory (an RPC body, an inflated .gz);
// `source` names them in errors.
absl::StatusOr<JsonlStats> ReadJsonlBytes(absl::string_view source, absl::string_view bytes,
                                          const JsonlOptions& options, const JsonlVisitor& visit);

// "<source>: N bad line(s)[, the first K]:\n<errors, one per line>", as
// INVALID_ARGUMENT: the message for refusing a whole file. At most
// `max_shown` errors are listed.
absl::Status RefuseBadLines(absl::string_view source, const JsonlStats& stats, size_t max_shown = 20);

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_JSONL_H_
