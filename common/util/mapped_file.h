// Read-only memory mapping of a whole file.
//
// MappedFile owns the mapping and unmaps it on destruction. It is movable, not
// copyable. data() stays valid for the object's lifetime. Reading through the
// mapping of a file that another process truncates raises SIGBUS; callers that
// parse untrusted files validate offsets against size() first, which is all
// this class can promise.
#ifndef SSD_COMMON_UTIL_MAPPED_FILE_H_
#define SSD_COMMON_UTIL_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace ssd {

class MappedFile {
 public:
  // Maps `path` read-only. An empty file maps to size() == 0, data() == nullptr.
  static absl::StatusOr<MappedFile> Open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void Reset();

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_MAPPED_FILE_H_
