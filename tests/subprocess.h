// Runs a child process for integration tests: argv, captured stdout/stderr,
// exit code or terminating signal, and a wall-clock limit.
#ifndef SSD_TESTS_SUBPROCESS_H_
#define SSD_TESTS_SUBPROCESS_H_

#include <string>
#include <vector>

namespace ssd {

struct ProcessResult {
  int exit_code = -1;    // valid when signal == 0
  int signal = 0;        // the terminating signal, 0 if it exited
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up on PATH) with the arguments; kills it after
// `timeout_s` seconds.
ProcessResult RunProcess(const std::vector<std::string>& argv, int timeout_s = 300);

// Environment helpers: the ssd binary and the source tree, as CTest sets them.
std::string SsdBinary();
std::string SourceDir();
// A fresh temporary directory; RemoveTree deletes it.
std::string MakeTempDir(const std::string& prefix);
void RemoveTree(const std::string& path);

}  // namespace ssd

#endif  // SSD_TESTS_SUBPROCESS_H_
