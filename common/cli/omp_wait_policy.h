// How the OpenMP threads of an `ssd` process wait between parallel regions.
//
// libgomp's default lets a waiting thread spin for about 300,000 iterations
// before it sleeps. Alone on a machine that is the fastest; but when two
// processes' threads share the cores (a sampler next to a trainer, two
// local ranks, a neighbour's job), a thread spinning at a barrier holds the
// core that the thread it waits for needs, and both processes crawl: 15-50x
// slower each, measured by tests/bench/thread_policy_bench.py (README,
// "Threads on a shared machine"). `ssd` therefore sets kDefaultOmpWaitPolicy
// unless the user has set OMP_WAIT_POLICY or GOMP_SPINCOUNT.
//
// libgomp reads those variables once, when it is loaded, before main runs;
// the only way to change them for this process is to start it again with
// them set. ApplyDefaultOmpWaitPolicy does that: it re-executes
// /proc/self/exe with the same arguments (same pid, same file descriptors),
// for every command except those that never run OpenMP regions (the
// control-plane clients, tokenizer tools, `ssd filter`, `ssd eval-code`).
#ifndef SSD_COMMON_CLI_OMP_WAIT_POLICY_H_
#define SSD_COMMON_CLI_OMP_WAIT_POLICY_H_

#include <string>

#include "absl/strings/string_view.h"

namespace ssd {

struct OmpWaitPolicy {
  const char* variable;
  const char* value;
};

inline constexpr OmpWaitPolicy kDefaultOmpWaitPolicy = {"OMP_WAIT_POLICY", "PASSIVE"};

// Set (to "1") in the environment of a process whose policy ssd chose.
inline constexpr char kOmpPolicyMarker[] = "SSD_OMP_WAIT_DEFAULT";

// Whether `command` (the first argument of `ssd`) runs OpenMP regions.
bool CommandUsesOpenMp(absl::string_view command);

// Call first in main. Re-executes the process with the default policy set
// when the command uses OpenMP and neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT
// is set; returns otherwise, and when the exec fails (said on stderr: the
// command then runs with libgomp's default).
void ApplyDefaultOmpWaitPolicy(int argc, char** argv);

// One line for `ssd env`: the variables in effect and who chose them.
std::string DescribeOmpWaitPolicy();

}  // namespace ssd

#endif  // SSD_COMMON_CLI_OMP_WAIT_POLICY_H_
