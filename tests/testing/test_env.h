// What an ssd test needs from its surroundings: the `ssd` binary and the
// source tree (CTest sets $SSD_BIN and $SSD_SOURCE_DIR), and prerequisites
// that a machine may lack (bubblewrap, the shared HumanEval file, Slurm,
// network namespaces).
//
// A missing prerequisite skips the test with the reason, except when
// SSD_REQUIRE_ALL=1 (CI sets it): then it fails the test, so that a green
// run always means every test ran.
//
//   if (!BubblewrapWorks()) SSD_SKIP_OR_FAIL("bubblewrap cannot start a sandbox here");
#ifndef SSD_TESTS_TESTING_TEST_ENV_H_
#define SSD_TESTS_TESTING_TEST_ENV_H_

#include <string>

#include "gtest/gtest.h"

namespace ssd {

// $SSD_BIN, else an `ssd` beside this binary or in ../bin, else "ssd".
std::string SsdBinary();
// $SSD_SOURCE_DIR, else ".".
std::string SourceDir();
// A file of the shared test data (HumanEval.jsonl.gz): under
// $SSD_SHARED_DATA, else ../shared/data beside the checkout.
std::string SharedDataFile(const std::string& name);
// Whether SSD_REQUIRE_ALL=1.
bool RequireAllPrerequisites();

}  // namespace ssd

// Skips the current test with `why`, or fails it under SSD_REQUIRE_ALL=1.
// Use in the test body (it returns from it).
#define SSD_SKIP_OR_FAIL(why)                                          \
  do {                                                                 \
    if (::ssd::RequireAllPrerequisites()) {                            \
      FAIL() << "missing prerequisite (SSD_REQUIRE_ALL=1): " << (why); \
    } else {                                                           \
      GTEST_SKIP() << (why);                                           \
    }                                                                  \
  } while (0)

#endif  // SSD_TESTS_TESTING_TEST_ENV_H_
