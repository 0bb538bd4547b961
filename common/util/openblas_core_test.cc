#include "common/util/openblas_core.h"

#include <gtest/gtest.h>

namespace ssd {
namespace {

TEST(OpenBlasCoreTest, AFallbackWithoutAvx2KernelsIsReplacedByTheBestCoreTheCpuRuns) {
  EXPECT_EQ(BetterOpenBlasCore("Prescott", true, true), "SkylakeX");
  EXPECT_EQ(BetterOpenBlasCore("Prescott", true, false), "Haswell");
  EXPECT_EQ(BetterOpenBlasCore("Sandybridge", true, false), "Haswell");  // AVX, no FMA kernels
  EXPECT_EQ(BetterOpenBlasCore("core2", true, true), "SkylakeX");
}

TEST(OpenBlasCoreTest, AnAvx2ChoiceOfOpenBlasIsKept) {
  for (const char* core : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "haswell", "SKYLAKEX"}) {
    EXPECT_EQ(BetterOpenBlasCore(core, true, true), "") << core;
  }
}

TEST(OpenBlasCoreTest, NothingChangesOnACpuWithoutAvx2OrWithoutOpenBlas) {
  EXPECT_EQ(BetterOpenBlasCore("Prescott", false, false), "");
  EXPECT_EQ(BetterOpenBlasCore("", true, true), "");
}

}  // namespace
}  // namespace ssd
