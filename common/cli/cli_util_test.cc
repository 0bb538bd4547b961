#include "common/cli/cli_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <thread>

namespace ssd {
namespace {

TEST(CliUtilTest, ParsesIdListWithSpaces) {
  auto ids = ParseIdList("--ids", "5, 17,300", 1000);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<int64_t>{5, 17, 300}));
}

TEST(CliUtilTest, IdOutsideVocabNamesElementAndRange) {
  auto ids = ParseIdList("--ids", "5,17,300", 256);
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().message().find("element 2 = 300"), std::string::npos) << ids.status();
  EXPECT_NE(ids.status().message().find("[0, 256)"), std::string::npos);
}

TEST(CliUtilTest, NonIntegerAndEmptyListsAreRejected) {
  EXPECT_FALSE(ParseIdList("--ids", "1,x", 10).ok());
  EXPECT_FALSE(ParseIdList("--ids", "1,,2", 10).ok());
  EXPECT_FALSE(ParseIdList("--ids", "", 10).ok());
  EXPECT_FALSE(ParseIdList("--ids", "-1", 10).ok());
}

TEST(CliUtilTest, FloatArrayRoundTripsFloat32AndNullsNonFinite) {
  float v[] = {0.1f, -3.0e-8f, std::numeric_limits<float>::infinity()};
  std::string s = JsonFloatArray(v, 3);
  EXPECT_EQ(s, "[0.100000001,-2.99999989e-08,null]");
  // Nine significant digits parse back to the identical float32.
  EXPECT_EQ(std::stof("0.100000001"), v[0]);
  EXPECT_EQ(std::stof("-2.99999989e-08"), v[1]);
}

TEST(CliUtilTest, GradingDefaultsToTwoProgramsPerCoreAndKeepsAnExplicitValue) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(GradingParallelism(0), 2 * cores);
  EXPECT_EQ(GradingParallelism(3), 3);
  EXPECT_EQ(CpuThreads(0), cores);
  EXPECT_EQ(CpuThreads(0, 2 * cores), 1);
}

}  // namespace
}  // namespace ssd
