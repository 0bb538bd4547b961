// Safetensors: reading (mmap, fully validated before any data is touched) and
// writing (streamed, atomic).
//
// Format: an 8-byte little-endian header length N, N bytes of JSON mapping
// tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the first byte after the header) plus an optional
// "__metadata__" object of strings, then the raw little-endian tensor bytes.
//
// SafetensorsFile::Open checks, and names the file, tensor and offset in any
// error: the header length against the file size, the JSON itself, every
// dtype, that shape x dtype size equals the byte range (without overflow), that
// ranges lie inside the data section and that no two overlap. A file that
// passes can be read through Data() without further checks.
//
// This header has no libtorch dependency; see checkpoint.h for tensors.
#ifndef SSD_COMMON_MODEL_SAFETENSORS_H_
#define SSD_COMMON_MODEL_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/util/mapped_file.h"

namespace ssd {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

size_t DTypeSize(DType dtype);
// The safetensors spelling: "F32", "BF16", ...
absl::string_view DTypeName(DType dtype);
absl::StatusOr<DType> ParseDType(absl::string_view name);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t data_begin = 0;  // relative to the data section, as in the header
  uint64_t data_end = 0;

  uint64_t num_bytes() const { return data_end - data_begin; }
  int64_t num_elements() const;
};

// Largest header accepted; real headers are far smaller.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

class SafetensorsFile {
 public:
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);

  // Tensors in the order of their data offsets.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorInfo* Find(absl::string_view name) const;
  // Pointer to the first byte of the tensor; valid while *this lives.
  const uint8_t* Data(const TensorInfo& info) const { return data_start_ + info.data_begin; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  const uint8_t* data_start_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Validates a header. `file_size` is the size of the whole file; exposed for
// tests and fuzzing. `path` names the file in errors.
absl::StatusOr<std::vector<TensorInfo>> ParseSafetensorsHeader(absl::string_view header_json, uint64_t data_bytes,
                                                               const std::string& path,
                                                               std::map<std::string, std::string>* metadata);

// One tensor to write; `data` must hold num_elements * DTypeSize(dtype) bytes
// in little-endian row-major order and stay valid during the call.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
};

// Writes a safetensors file atomically (temp file, fsync, rename). Names must
// be unique. The header is padded to 8 bytes so every tensor is 8-aligned.
absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_SAFETENSORS_H_
