// The OpenMP wait policy `ssd` runs with (common/cli/omp_wait_policy.h):
// its default for a shared machine unless the user set one, applied by
// re-executing before libgomp starts, only for commands that compute.
#include <gtest/gtest.h>

#include <string>

#include "tests/subprocess.h"

namespace ssd {
namespace {

TEST(OmpPolicyCliTest, ComputeCommandsRunWithTheSharedMachineDefault) {
  ProcessResult r = RunProcess({"/usr/bin/env", "-u", "OMP_WAIT_POLICY", "-u", "GOMP_SPINCOUNT", "-u",
                                "SSD_OMP_WAIT_DEFAULT", SsdBinary(), "env", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("omp wait:      OMP_WAIT_POLICY=PASSIVE (ssd's default for a shared machine"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("libgomp's default"), std::string::npos) << r.out;
}

TEST(OmpPolicyCliTest, APolicyTheUserSetIsKept) {
  for (const char* var : {"OMP_WAIT_POLICY=ACTIVE", "GOMP_SPINCOUNT=300000"}) {
    ProcessResult r = RunProcess({"/usr/bin/env", "-u", "OMP_WAIT_POLICY", "-u", "GOMP_SPINCOUNT", "-u",
                                  "SSD_OMP_WAIT_DEFAULT", var, SsdBinary(), "env", "--threads", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("omp wait:      ") + var + " (from the environment)"), std::string::npos)
        << r.out;
  }
}

}  // namespace
}  // namespace ssd
