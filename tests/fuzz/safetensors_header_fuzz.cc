// The safetensors header (JSON after the 8-byte length) of a file of
// arbitrary bytes. Property: an accepted header's tensors lie inside the
// data section, do not overlap, and match their dtype and shape in size.
#include <algorithm>
#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "common/model/safetensors.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  // The first 8 bytes give the size of the data section, as a real file's
  // length would (bounded so that the arithmetic stays interesting).
  uint64_t data_bytes = 0;
  for (int i = 7; i >= 0; --i) data_bytes = (data_bytes << 8) | data[i];
  data_bytes %= uint64_t{1} << 40;
  std::map<std::string, std::string> metadata;
  auto tensors = ssd::ParseSafetensorsHeader(absl::string_view(reinterpret_cast<const char*>(data) + 8, size - 8),
                                             data_bytes, "fuzz.safetensors", &metadata);
  if (!tensors.ok()) return 0;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const ssd::TensorInfo& t : *tensors) {
    SSD_FUZZ_CHECK(t.data_begin <= t.data_end && t.data_end <= data_bytes);
    uint64_t bytes = ssd::DTypeSize(t.dtype);
    for (int64_t d : t.shape) {
      SSD_FUZZ_CHECK(d >= 0);
      SSD_FUZZ_CHECK(!__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes));
    }
    SSD_FUZZ_CHECK(bytes == t.data_end - t.data_begin);
    ranges.push_back({t.data_begin, t.data_end});
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) SSD_FUZZ_CHECK(ranges[i - 1].second <= ranges[i].first);
  return 0;
}
