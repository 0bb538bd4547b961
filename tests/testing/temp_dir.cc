#include "tests/testing/temp_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace ssd {

ScopedTempDir::ScopedTempDir(absl::string_view prefix, absl::string_view parent) {
  const char* tmp = getenv("TMPDIR");
  const std::string base =
      !parent.empty() ? std::string(parent) : (tmp != nullptr && *tmp != '\0' ? std::string(tmp) : "/tmp");
  std::string tmpl = absl::StrCat(base, "/", prefix, ".XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::fprintf(stderr, "ScopedTempDir: mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
    std::abort();
  }
  path_ = tmpl;
}

ScopedTempDir::~ScopedTempDir() {
  if (released_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ScopedTempDir::Join(absl::string_view name) const { return absl::StrCat(path_, "/", name); }

std::string ScopedTempDir::Release() {
  released_ = true;
  return path_;
}

}  // namespace ssd
