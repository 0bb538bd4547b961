// Starting a child process that can be stopped as a whole: it leads its own
// process group (so a signal to -pid reaches everything it started), dies
// with its parent (PR_SET_PDEATHSIG), writes stdout and stderr to a log file
// and starts with no signals blocked.
#ifndef SSD_COMMON_UTIL_CHILD_PROCESS_H_
#define SSD_COMMON_UTIL_CHILD_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace ssd {

// argv[0] is a path (not looked up on PATH). `env` entries are set in the
// child on top of this process's environment. Returns the child's pid.
absl::StatusOr<pid_t> SpawnInGroup(const std::vector<std::string>& argv, const std::string& log_path,
                                   const std::vector<std::pair<std::string, std::string>>& env = {});

// The absolute path of the running executable.
std::string SelfExecutable();

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_CHILD_PROCESS_H_
