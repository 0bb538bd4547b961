// Runs a child process for integration tests: argv, captured stdout/stderr,
// exit code or terminating signal, and a wall-clock limit.
#ifndef SSD_TESTS_SUBPROCESS_H_
#define SSD_TESTS_SUBPROCESS_H_

#include <sys/types.h>

#include <functional>
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

// A child running in the background in its own process group, with stdout
// and stderr going to `log_path`. The destructor SIGKILLs the whole group
// and reaps the child, so no test exit path leaves it running.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& log_path,
                    const std::vector<std::string>& extra_env = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
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
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_path_;
};

// Polls `predicate` every 50 ms until it holds or `timeout_s` passes.
bool WaitUntil(const std::function<bool()>& predicate, double timeout_s);

// Environment helpers: the ssd binary and the source tree, as CTest sets them.
std::string SsdBinary();
std::string SourceDir();
// A fresh temporary directory; RemoveTree deletes it.
std::string MakeTempDir(const std::string& prefix);
void RemoveTree(const std::string& path);

}  // namespace ssd

#endif  // SSD_TESTS_SUBPROCESS_H_
