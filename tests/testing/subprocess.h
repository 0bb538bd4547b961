// Running child processes from tests: a command run to completion with its
// output captured, and a daemon in the background. Both put the child in
// its own process group (common/util/process_group.h), and both kill the
// whole group and reap it on every exit path, a failed assertion included.
#ifndef SSD_TESTS_TESTING_SUBPROCESS_H_
#define SSD_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/util/process_group.h"  // ProcessStatusKib

namespace ssd {

class ProcessGroup;

struct ProcessResult {
  int exit_code = -1;  // valid when signal == 0
  int signal = 0;      // the terminating signal, 0 if it exited
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up on PATH) with the arguments, capturing stdout and
// stderr; kills its process group after `timeout_s` seconds.
ProcessResult RunProcess(const std::vector<std::string>& argv, int timeout_s = 300);

// A child running in the background, with stdout and stderr appended to
// `log_path`. `extra_env` entries are "NAME=value". The destructor SIGKILLs
// the whole group and reaps the child.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& log_path,
                    const std::vector<std::string>& extra_env = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // -1 when the fork failed (the log says why).
  pid_t pid() const;
  // Sends `sig` to the process group.
  void Signal(int sig);
  // Waits up to `timeout_s` for the child to exit; returns its wait status,
  // or -1 on timeout (the child is left running).
  int Wait(double timeout_s);
  bool running();
  // The log so far.
  std::string Log() const;
  // Polls the log until it contains `needle`; false after `timeout_s`.
  bool WaitForLog(const std::string& needle, double timeout_s);

 private:
  std::unique_ptr<ProcessGroup> group_;
  std::string log_path_;
};

// Processes other than this one whose command line mentions `needle` (a
// temporary folder a test gave them), as "pid: command line".
std::vector<std::string> ProcessesMentioning(const std::string& needle);

// Polls `predicate` every 50 ms until it holds or `timeout_s` passes.
bool WaitUntil(const std::function<bool()>& predicate, double timeout_s);

}  // namespace ssd

#endif  // SSD_TESTS_TESTING_SUBPROCESS_H_
