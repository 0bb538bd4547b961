// LiveCodeBench private test cases: base64, then zlib, then a pickled
// string. Each layer gets the same bytes on its own too. Properties: the
// decompressed size limit holds, and base64 accepts only what it can
// decode to the right length.
#include <string>

#include "absl/strings/string_view.h"
#include "common/eval/base64.h"
#include "common/eval/benchmark.h"
#include "common/eval/inflate.h"
#include "common/eval/pickle_string.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  constexpr size_t kLimit = size_t{1} << 20;
  auto all = ssd::DecodePrivateTests(in, kLimit);
  if (all.ok()) SSD_FUZZ_CHECK(all->size() <= kLimit);
  auto b = ssd::Base64Decode(in);
  if (b.ok()) SSD_FUZZ_CHECK(b->size() <= size / 4 * 3 + 3);
  for (ssd::InflateFormat f : {ssd::InflateFormat::kZlib, ssd::InflateFormat::kGzip}) {
    auto z = ssd::Inflate(in, f, kLimit);
    if (z.ok()) SSD_FUZZ_CHECK(z->size() <= kLimit);
  }
  auto p = ssd::UnpickleString(in, kLimit);
  if (p.ok()) SSD_FUZZ_CHECK(p->size() <= kLimit);
  return 0;
}
