// A temporary folder for one test, removed with everything in it when the
// ScopedTempDir goes out of scope (the test's end, pass or fail).
//
//   class FooTest : public ::testing::Test {
//    protected:
//     ScopedTempDir dir_{"ssd_foo"};        // a fresh folder per test
//   };
//   ... WriteFileAtomically(dir_.Join("a.txt"), "x") ...
//
// A test that wants to keep the folder for a post-mortem calls Release().
#ifndef SSD_TESTS_TESTING_TEMP_DIR_H_
#define SSD_TESTS_TESTING_TEMP_DIR_H_

#include <string>

#include "absl/strings/string_view.h"

namespace ssd {

class ScopedTempDir {
 public:
  // Creates <parent>/<prefix>.XXXXXX; the parent defaults to $TMPDIR, or
  // /tmp when that is unset. A failure to create it aborts the test binary:
  // nothing can run without it.
  explicit ScopedTempDir(absl::string_view prefix = "ssd_test", absl::string_view parent = "");
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name.
  std::string Join(absl::string_view name) const;
  // Keeps the folder on disk; returns its path.
  std::string Release();

 private:
  std::string path_;
  bool released_ = false;
};

}  // namespace ssd

#endif  // SSD_TESTS_TESTING_TEMP_DIR_H_
