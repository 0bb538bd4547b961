// Small filesystem helpers with absl::Status errors that name the path.
#ifndef SSD_COMMON_UTIL_FILE_UTIL_H_
#define SSD_COMMON_UTIL_FILE_UTIL_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

// Reads a whole file. Refuses files larger than `max_bytes`.
absl::StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes = size_t{1} << 30);

// Writes `contents` to `path` atomically: a temporary file in the same folder
// is written, fsync'd and renamed over `path`, and the folder is fsync'd. A
// crash leaves either the old file or the new one, never a torn one.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// Streams a file into place atomically: Open() creates a temporary file next
// to `path`, Append() writes, Commit() fsyncs and renames it over `path` and
// fsyncs the folder. Destroying an uncommitted writer removes the temporary
// file, so a crash or an error never leaves a torn file under `path`.
// Not thread-safe.
class AtomicFileWriter {
 public:
  static absl::StatusOr<AtomicFileWriter> Open(const std::string& path);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  absl::Status Append(const void* data, size_t n);
  absl::Status Append(absl::string_view s) { return Append(s.data(), s.size()); }
  absl::Status Commit();
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  AtomicFileWriter(std::string path, std::string tmp, int fd) : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}
  void Abandon();

  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  uint64_t bytes_written_ = 0;
};

// Creates `path` and its parents if they are missing.
absl::Status MakeDirs(const std::string& path);

// Joins two path components with exactly one '/'.
std::string JoinPath(absl::string_view a, absl::string_view b);

bool PathExists(const std::string& path);

// "a/b/../c/./d" -> "a/c/d", lexically (no file system access); a leading
// "/" is kept and ".." above the root of an absolute path is dropped.
std::string NormalizePath(const std::string& path);

// `path` made absolute against the working directory (not resolving links
// when it does not exist yet).
std::string AbsolutePath(const std::string& path);

// The folder that holds `path`, absolute, with links resolved when `path`
// exists: what a file's relative paths are resolved against (a job spec's).
std::string ContainingDir(const std::string& path);

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_FILE_UTIL_H_
