#include "tests/cluster/fake_model.h"

#include "absl/strings/str_cat.h"

namespace ssd {

uint64_t Mix(uint64_t h, const std::string& s) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string FakeText(const std::string& job, int round, const std::string& problem, int64_t index, int text_bytes) {
  const uint64_t h = Mix(Mix(Mix(1469598103934665603ull, job), absl::StrCat(round, "/", problem)), std::to_string(index));
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
