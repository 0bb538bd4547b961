#include "common/util/omp_wait_policy.h"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace ssd {
namespace {

TEST(OmpWaitPolicyTest, ALauncherSetsPassiveForItsChildrenOnlyWhenTheUserChoseNothing) {
  unsetenv("OMP_WAIT_POLICY");
  unsetenv("GOMP_SPINCOUNT");
  EXPECT_TRUE(ShareCoresWithChildren());
  EXPECT_STREQ(getenv("OMP_WAIT_POLICY"), "PASSIVE");
  setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
  EXPECT_FALSE(ShareCoresWithChildren());
  EXPECT_STREQ(getenv("OMP_WAIT_POLICY"), "ACTIVE");
  unsetenv("OMP_WAIT_POLICY");
  setenv("GOMP_SPINCOUNT", "1000", 1);
  EXPECT_FALSE(ShareCoresWithChildren());
  EXPECT_EQ(getenv("OMP_WAIT_POLICY"), nullptr);
  unsetenv("GOMP_SPINCOUNT");
}

TEST(OmpWaitPolicyTest, AChildEnvironmentFollowsTheSameRule) {
  unsetenv("OMP_WAIT_POLICY");
  unsetenv("GOMP_SPINCOUNT");
  const auto env = SharedCoresEnvironment();
  ASSERT_EQ(env.size(), 2u);
  EXPECT_EQ(env[0].first, "OMP_WAIT_POLICY");
  EXPECT_EQ(env[0].second, "PASSIVE");
  EXPECT_EQ(env[1].first, kOmpPolicyMarker);
  setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
  EXPECT_TRUE(SharedCoresEnvironment().empty()) << "the user's choice wins";
  unsetenv("OMP_WAIT_POLICY");
}

}  // namespace
}  // namespace ssd
