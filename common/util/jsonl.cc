#include "common/util/jsonl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ssd {
namespace {

bool Blank(absl::string_view line) { return line.find_first_not_of(" \t\r") == absl::string_view::npos; }

// Applies the policy to one line; returns non-OK to end the read.
class LineHandler {
 public:
  LineHandler(absl::string_view source, const JsonlOptions& options, const JsonlVisitor& visit)
      : source_(source), options_(options), visit_(visit) {}

  absl::Status Line(int64_t number, absl::string_view text) {
    if (Blank(text)) return absl::OkStatus();
    ++stats_.lines;
    absl::Status s = visit_(JsonlLine{number, text});
    if (s.ok()) return s;
    return Bad(number, s);
  }

  absl::Status TooLong(int64_t number, int64_t bytes) {
    ++stats_.lines;
    return Bad(number, absl::InvalidArgumentError(absl::StrCat("a line of ", bytes, " bytes is over the limit of ",
                                                               options_.max_line_bytes, " bytes")));
  }

  JsonlStats Take() { return std::move(stats_); }

 private:
  absl::Status Bad(int64_t number, const absl::Status& s) {
    std::string message = absl::StrCat(source_, ":", number, ": ", s.message());
    if (s.code() != absl::StatusCode::kInvalidArgument || options_.on_bad_line == BadLinePolicy::kFail) {
      return absl::Status(s.code(), message);
    }
    ++stats_.bad_lines;
    if (options_.on_bad_line == BadLinePolicy::kCollect || stats_.errors.size() < JsonlStats::kMaxKeptErrors) {
      stats_.errors.push_back(std::move(message));
    }
    return absl::OkStatus();
  }

  const absl::string_view source_;
  const JsonlOptions& options_;
  const JsonlVisitor& visit_;
  JsonlStats stats_;
};

}  // namespace

absl::StatusOr<JsonlStats> ReadJsonlBytes(absl::string_view source, absl::string_view bytes,
                                          const JsonlOptions& options, const JsonlVisitor& visit) {
  LineHandler h(source, options, visit);
  int64_t number = 0;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t end = bytes.find('\n', pos);
    if (end == absl::string_view::npos) end = bytes.size();
    ++number;
    const absl::string_view line = bytes.substr(pos, end - pos);
    absl::Status s = static_cast<int64_t>(line.size()) > options.max_line_bytes
                         ? h.TooLong(number, static_cast<int64_t>(line.size()))
                         : h.Line(number, line);
    if (!s.ok()) return s;
    pos = end + 1;
  }
  return h.Take();
}

absl::StatusOr<JsonlStats> ReadJsonlFile(const std::string& path, const JsonlOptions& options,
                                         const JsonlVisitor& visit) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  LineHandler h(path, options, visit);
  std::string pending;   // the current line so far
  int64_t skipped = -1;  // >= 0: the current line is over the limit; its length so far
  int64_t number = 0;
  std::string block(size_t{1} << 20, '\0');
  for (;;) {
    const ssize_t n = read(fd, block.data(), block.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(absl::StrCat(path, ": read error after line ", number, ": ", strerror(errno)));
    }
    if (n == 0) break;
    absl::string_view data(block.data(), static_cast<size_t>(n));
    while (!data.empty()) {
      const size_t nl = data.find('\n');
      const absl::string_view piece = data.substr(0, nl);
      if (skipped >= 0) {
        skipped += static_cast<int64_t>(piece.size());
      } else if (static_cast<int64_t>(pending.size() + piece.size()) > options.max_line_bytes) {
        skipped = static_cast<int64_t>(pending.size() + piece.size());
        pending.clear();
        pending.shrink_to_fit();
      } else {
        pending.append(piece.data(), piece.size());
      }
      if (nl == absl::string_view::npos) break;
      ++number;
      absl::Status s = skipped >= 0 ? h.TooLong(number, skipped) : h.Line(number, pending);
      if (!s.ok()) return s;
      pending.clear();
      skipped = -1;
      data.remove_prefix(nl + 1);
    }
  }
  if (!pending.empty() || skipped >= 0) {
    ++number;
    absl::Status s = skipped >= 0 ? h.TooLong(number, skipped) : h.Line(number, pending);
    if (!s.ok()) return s;
  }
  return h.Take();
}

absl::Status RefuseBadLines(absl::string_view source, const JsonlStats& stats, size_t max_shown) {
  const size_t shown = std::min(max_shown, stats.errors.size());
  return absl::InvalidArgumentError(absl::StrCat(
      source, ": ", stats.bad_lines, " bad line(s)",
      shown < static_cast<size_t>(stats.bad_lines) ? absl::StrCat(", the first ", shown) : "", ":\n",
      absl::StrJoin(stats.errors.begin(), stats.errors.begin() + static_cast<std::ptrdiff_t>(shown), "\n")));
}

}  // namespace ssd
