// Runs one child process with resource limits, a wall-clock kill, fed
// stdin and captured (capped) stdout/stderr. The building block of the
// sandboxes; it isolates nothing by itself.
#ifndef SSD_COMMON_EVAL_PROCESS_RUNNER_H_
#define SSD_COMMON_EVAL_PROCESS_RUNNER_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ssd {

// setrlimit values applied in the child before exec; 0 leaves a limit as
// inherited.
struct ProcessLimits {
  int64_t cpu_s = 0;                // RLIMIT_CPU, per process
  int64_t address_space_bytes = 0;  // RLIMIT_AS, per process
  int64_t max_processes = 0;        // RLIMIT_NPROC, per (namespace, uid)
  int64_t file_size_bytes = 0;      // RLIMIT_FSIZE
  int64_t open_files = 0;           // RLIMIT_NOFILE
};

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is an absolute path
  std::vector<std::string> env;   // "KEY=value"; nothing else is inherited
  std::string stdin_data;
  ProcessLimits limits;
  double wall_timeout_s = 60;
  // Root only: switch to this uid and gid (and no supplementary groups)
  // before exec.
  std::optional<uid_t> run_as_uid;
  size_t max_output_bytes = size_t{64} << 20;  // per stream; the rest is dropped
};

struct ProcessRunResult {
  int exit_code = -1;  // valid when signal == 0 and !wall_timeout
  int signal = 0;      // the terminating signal, 0 if it exited
  bool wall_timeout = false;
  std::string out, err;
  bool out_truncated = false;
  double wall_s = 0;
};

// Forks and execs spec.argv in its own process group, feeds stdin_data,
// captures output until the child exits, and kills the whole group with
// SIGKILL at the wall-clock limit (and after the child exits, so stray
// members of the group die too). The child also gets SIGKILL if this
// thread dies. Thread-safe. Fails only when the process cannot be started.
absl::StatusOr<ProcessRunResult> RunLimitedProcess(const ProcessSpec& spec);

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_PROCESS_RUNNER_H_
