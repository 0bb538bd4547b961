// One line of a LiveCodeBench or HumanEval file. Property: an accepted
// problem has an id and the tests its type needs.
#include <string>

#include "absl/strings/string_view.h"
#include "common/eval/benchmark.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ssd::BenchmarkOptions o;
  o.max_test_bytes = size_t{1} << 20;
  auto p = ssd::ParseProblem(absl::string_view(reinterpret_cast<const char*>(data), size), o);
  if (!p.ok()) return 0;
  SSD_FUZZ_CHECK(!p->question_id.empty());
  return 0;
}
