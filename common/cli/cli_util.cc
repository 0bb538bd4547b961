#include "common/cli/cli_util.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ssd {

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<std::vector<int64_t>> ParseIdList(absl::string_view flag, absl::string_view text, int64_t limit) {
  std::vector<int64_t> out;
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": expected a comma-separated list of ids, got nothing"));
  }
  int index = 0;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &v)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": element ", index, " (\"", part, "\") is not an integer"));
    }
    if (v < 0 || v >= limit) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": element ", index, " = ", v, " is outside [0, ", limit, ")"));
    }
    out.push_back(v);
    ++index;
  }
  return out;
}

int ReportStatus(absl::string_view command, const absl::Status& status) {
  if (status.ok()) return 0;
  std::cerr << "ssd " << command << ": " << status.message() << std::endl;
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

std::string JsonIntArray(const std::vector<int64_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ",";
    absl::StrAppend(&out, values[i]);
  }
  return out + "]";
}

std::string JsonFloatArray(const float* values, size_t n) {
  std::string out = "[";
  char buf[32];
  for (size_t i = 0; i < n; ++i) {
    if (i) out += ",";
    if (!std::isfinite(values[i])) {
      out += "null";  // JSON has no NaN/Inf; null is unmistakable
      continue;
    }
    std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(values[i]));
    out += buf;
  }
  return out + "]";
}

int CpuThreads(int requested, int sharers) {
  if (requested > 0) return requested;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, sharers));
}

int GradingParallelism(int requested) {
  if (requested > 0) return requested;
  return 2 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace ssd
