// A child process that leads its own process group, so that a signal to
// the group reaches everything it started. Every `ssd` command that starts
// processes goes through this: `ssd local` (its coordinator, samplers and
// trainers), `ssd train --nproc` and `ssd trainer --nproc` (their ranks),
// the trainer worker (its `ssd train` children), and the tests.
//
// The child:
//   - calls setpgid(0, 0), and the parent does too, so the group exists
//     before either side can signal it;
//   - dies with its parent (PR_SET_PDEATHSIG SIGKILL) unless asked not to,
//     and exits at once if the parent was already gone before that took hold;
//   - starts with no signal blocked (daemons block SIGINT/SIGTERM in every
//     thread, and a blocked mask would be inherited across exec);
//   - writes stdout and stderr to `log_path` (appending), to given file
//     descriptors, or inherits them.
//
// Stopping is SIGTERM to the group, a grace period, then SIGKILL, and the
// child is always reaped. A ProcessGroup destroyed while its child runs
// SIGKILLs the group and reaps it, so no exit path leaves one behind.
// Not thread-safe: one thread owns each ProcessGroup.
#ifndef SSD_COMMON_UTIL_PROCESS_GROUP_H_
#define SSD_COMMON_UTIL_PROCESS_GROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace ssd {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is a path unless search_path
  bool search_path = false;       // look argv[0] up on PATH (execvp)
  std::string log_path;           // "" : inherit stdout and stderr
  // When >= 0, the child's stdout / stderr (a pipe's write end, say); they
  // take precedence over log_path. The parent keeps its copies.
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Set in the child on top of this process's environment.
  std::vector<std::pair<std::string, std::string>> env;
  bool die_with_parent = true;
};

class ProcessGroup {
 public:
  // Forks and execs. An exec failure shows as exit status 127, with the
  // reason in the log.
  static absl::StatusOr<std::unique_ptr<ProcessGroup>> Spawn(const SpawnOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  pid_t pid() const { return pid_; }
  // Reaps the child if it has exited; true once it has. Never blocks.
  bool Poll();
  // Blocks until the child exits or `timeout` passes; true if it exited.
  bool Wait(absl::Duration timeout);
  bool exited() const { return reaped_; }
  // waitpid's status; meaningful once exited().
  int wait_status() const { return status_; }
  // Exited with status 0.
  bool succeeded() const;
  // "exited with status 1", "was killed by signal 9 (Killed)", "is running".
  std::string DescribeExit() const;

  // Sends `sig` to the whole group. Harmless after the child is reaped
  // (the group may still hold processes it started, which this reaches).
  void Signal(int sig);
  // SIGTERM to the group, up to `grace` for the child to exit, then SIGKILL
  // to the group, and reaps. Idempotent.
  void Stop(absl::Duration grace);

 private:
  explicit ProcessGroup(pid_t pid) : pid_(pid) {}

  const pid_t pid_;
  bool reaped_ = false;
  int status_ = 0;
};

// Stops several groups with one shared grace period: SIGTERM to every group
// first, so they wind down together, then SIGKILL to whichever is left.
void StopProcessGroups(absl::Span<ProcessGroup* const> groups, absl::Duration grace);

// The last `lines` lines of a log file, each prefixed by `indent` and ending
// in a newline; "" when the file cannot be read. For error messages that
// show why a child died.
std::string TailOfLog(const std::string& path, int lines, absl::string_view indent = "    ");

// The absolute path of the running executable ("ssd" if /proc is missing).
std::string SelfExecutable();

// A `field` of /proc/PID/status in KiB ("VmHWM" the peak resident set,
// "VmRSS" the current one); 0 when the process or the field is not there.
int64_t ProcessStatusKib(pid_t pid, const std::string& field);

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_PROCESS_GROUP_H_
