// The CPU feature answers against the kernel's own view of this CPU, the
// flags line of /proc/cpuinfo.
#include "common/util/cpu_features.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace ssd {
namespace {

std::set<std::string> CpuinfoFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags;
    for (std::string w; words >> w;) flags.insert(w);
    return flags;
  }
  return {};
}

TEST(CpuFeaturesTest, AnswersMatchTheFlagsTheKernelReportsForThisCpu) {
  const std::set<std::string> f = CpuinfoFlags();
  if (f.empty()) GTEST_SKIP() << "no flags line in /proc/cpuinfo";
  auto has = [&](const char* name) { return f.count(name) > 0; };
  EXPECT_EQ(CpuHasAvx2(), has("avx2"));
  EXPECT_EQ(CpuHasAvx2Fma(), has("avx2") && has("fma"));
  EXPECT_EQ(CpuHasAvx512FDq(), has("avx512f") && has("avx512dq"));
  EXPECT_EQ(CpuHasAvx512SkylakeX(),
            has("avx512f") && has("avx512dq") && has("avx512cd") && has("avx512bw") && has("avx512vl"));
}

}  // namespace
}  // namespace ssd
