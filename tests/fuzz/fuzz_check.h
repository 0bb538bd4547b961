// What every fuzz target shares: the libFuzzer entry point's signature, and
// a property check that aborts (a finding) without depending on assert().
#ifndef SSD_TESTS_FUZZ_FUZZ_CHECK_H_
#define SSD_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define SSD_FUZZ_CHECK(cond)                                                             \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

// A new folder under /tmp named after `prefix`, removed (with its contents)
// when the process exits; for targets that need files beside their input.
inline std::string MakeFuzzTempDir(const std::string& prefix) {
  static std::vector<std::string>* made = [] {
    auto* v = new std::vector<std::string>;
    std::atexit([] {
      for (const std::string& d : *made) {
        std::error_code ec;
        std::filesystem::remove_all(d, ec);
      }
    });
    return v;
  }();
  std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();
  made->push_back(tmpl);
  return tmpl;
}

#endif  // SSD_TESTS_FUZZ_FUZZ_CHECK_H_
