#include "tests/testing/test_env.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstring>

namespace ssd {

std::string SsdBinary() {
  const char* b = getenv("SSD_BIN");
  if (b != nullptr && *b != '\0') return b;
  // Beside this binary (build/bin/ for benches) or in ../bin (build/tests/).
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    const std::string exe(self, static_cast<size_t>(n));
    const std::string dir = exe.substr(0, exe.rfind('/'));
    for (const std::string& c : {dir + "/ssd", dir + "/../bin/ssd"}) {
      if (access(c.c_str(), X_OK) == 0) return c;
    }
  }
  return "ssd";
}

std::string SourceDir() {
  const char* s = getenv("SSD_SOURCE_DIR");
  return s != nullptr && *s != '\0' ? s : ".";
}

std::string SharedDataFile(const std::string& name) {
  const char* d = getenv("SSD_SHARED_DATA");
  const std::string dir = d != nullptr && *d != '\0' ? std::string(d) : SourceDir() + "/../shared/data";
  return dir + "/" + name;
}

bool RequireAllPrerequisites() {
  const char* r = getenv("SSD_REQUIRE_ALL");
  return r != nullptr && std::strcmp(r, "1") == 0;
}

}  // namespace ssd
