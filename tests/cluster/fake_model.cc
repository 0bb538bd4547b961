#include "tests/cluster/fake_model.h"

#include "absl/strings/str_cat.h"
#include "common/util/hash.h"

namespace ssd {

std::string FakeText(const std::string& job, int round, const std::string& problem, int64_t index, int text_bytes) {
  // Not FNV's offset basis, but the texts the load test was tuned on.
  const uint64_t h =
      Fnv1a64(std::to_string(index), Fnv1a64(absl::StrCat(round, "/", problem), Fnv1a64(job, 1469598103934665603ull)));
  if (h % 10 == 0) return "";
  if (h % 10 == 1) return "pass";
  std::string t = "```python\ndef solve():\n";
  const int lines = 1 + static_cast<int>((h >> 8) % 12);
  for (int i = 0; i < lines; ++i) absl::StrAppend(&t, "    x", i, " = ", (h >> (i % 40)) % 1000, "\n");
  absl::StrAppend(&t, "    return x0\n```\n");
  while (static_cast<int>(t.size()) < text_bytes) absl::StrAppend(&t, "# ", h % 100000, " padding line\n");
  return t;
}

}  // namespace ssd
