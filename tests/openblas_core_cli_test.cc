// The OpenBLAS kernels `ssd` runs its libtorch matmuls on
// (common/util/openblas_core.h): on a CPU with AVX2 and FMA they are AVX2
// kernels even where OpenBLAS's own lookup fell back to Prescott (as it does
// on virtual machines that report a generic CPU model), the re-executed
// process keeps its arguments and exit code, and an OPENBLAS_CORETYPE the user
// set is kept.
#include <gtest/gtest.h>

#include <string>

#include "tests/testing/subprocess.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

std::string BlasLine(const std::string& out) {
  const size_t at = out.find("blas core:");
  return at == std::string::npos ? "" : out.substr(at, out.find('\n', at) - at);
}

TEST(OpenBlasCoreCliTest, AnAvx2CpuRunsAvx2KernelsAndTheArgumentsSurvive) {
  ProcessResult r = RunProcess({"/usr/bin/env", "-u", "OPENBLAS_CORETYPE", "-u", "SSD_OPENBLAS_REPLACED_CORE",
                                SsdBinary(), "env", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string line = BlasLine(r.out);
  ASSERT_FALSE(line.empty()) << r.out;
  EXPECT_NE(r.out.find("threads:       1 intra-op"), std::string::npos) << r.out;
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) GTEST_SKIP() << "no AVX2+FMA: " << line;
  bool avx2_core = false;
  for (const char* core : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator"}) {
    avx2_core |= line.find(std::string("blas core:     ") + core + " ") != std::string::npos;
  }
  EXPECT_TRUE(avx2_core) << line;
}

TEST(OpenBlasCoreCliTest, ACoreTheUserSetIsKept) {
  ProcessResult r = RunProcess({"/usr/bin/env", "-u", "SSD_OPENBLAS_REPLACED_CORE", "OPENBLAS_CORETYPE=Prescott",
                                SsdBinary(), "env", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(BlasLine(r.out), "blas core:     Prescott (OPENBLAS_CORETYPE from the environment)") << r.out;
}

TEST(OpenBlasCoreCliTest, AFailingCommandFailsOnceAsItWouldWithoutTheReexec) {
  // The same bad command line without a re-exec (the user's core kept) and
  // with one where this CPU needs it: the same exit code and message, once.
  ProcessResult kept = RunProcess({"/usr/bin/env", "OPENBLAS_CORETYPE=Prescott", SsdBinary(), "env", "--bogus"});
  ProcessResult r = RunProcess(
      {"/usr/bin/env", "-u", "OPENBLAS_CORETYPE", "-u", "SSD_OPENBLAS_REPLACED_CORE", SsdBinary(), "env", "--bogus"});
  EXPECT_NE(kept.exit_code, 0);
  EXPECT_EQ(r.exit_code, kept.exit_code);
  EXPECT_EQ(r.err, kept.err);
  const size_t first = r.err.find("--bogus");
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("--bogus", first + 1), std::string::npos) << "reported twice:\n" << r.err;
}

}  // namespace
}  // namespace ssd
