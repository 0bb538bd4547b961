// What every fuzz target shares: the libFuzzer entry point's signature, and
// a property check that aborts (a finding) without depending on assert().
#ifndef SSD_TESTS_FUZZ_FUZZ_CHECK_H_
#define SSD_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define SSD_FUZZ_CHECK(cond)                                                              \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

#endif  // SSD_TESTS_FUZZ_FUZZ_CHECK_H_
