// The OpenMP wait policy `ssd` runs with (common/cli/omp_wait_policy.h):
// libgomp's default for a command on its own, PASSIVE for the processes an
// ssd launcher starts side by side, and always what the user set.
#include <gtest/gtest.h>

#include <string>

#include "tests/testing/subprocess.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

TEST(OmpPolicyCliTest, ACommandOnItsOwnKeepsLibgompsDefault) {
  ProcessResult r = RunProcess({"/usr/bin/env", "-u", "OMP_WAIT_POLICY", "-u", "GOMP_SPINCOUNT", "-u",
                                "SSD_OMP_WAIT_DEFAULT", SsdBinary(), "env", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("omp wait:      libgomp's default"), std::string::npos) << r.out;
}

TEST(OmpPolicyCliTest, ProcessesALauncherStartsSideBySideWaitPassively) {
  // What a launcher's child sees: the policy and the marker it sets.
  ProcessResult r = RunProcess({"/usr/bin/env", "-u", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY=PASSIVE",
                                "SSD_OMP_WAIT_DEFAULT=1", SsdBinary(), "env", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("omp wait:      OMP_WAIT_POLICY=PASSIVE (set by the ssd launcher"), std::string::npos) << r.out;
}

TEST(OmpPolicyCliTest, APolicyTheUserSetIsKept) {
  for (const char* var : {"OMP_WAIT_POLICY=ACTIVE", "GOMP_SPINCOUNT=300000"}) {
    ProcessResult r = RunProcess({"/usr/bin/env", "-u", "OMP_WAIT_POLICY", "-u", "GOMP_SPINCOUNT", "-u",
                                  "SSD_OMP_WAIT_DEFAULT", var, SsdBinary(), "env", "--threads", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("omp wait:      ") + var + " (from the environment)"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace ssd
