// How the OpenMP threads of an `ssd` process wait between parallel regions.
//
// libgomp's default lets a waiting thread spin for about 300,000 iterations
// before it sleeps. Alone on a machine that is the fastest (OMP_WAIT_POLICY=
// PASSIVE made `ssd sample` 1.6x slower at 64 sequences and 3.7x slower at
// batch 1 here); but when two processes' threads share the cores (a sampler
// next to a trainer, two local ranks), a thread spinning at a barrier holds
// the core that the thread it waits for needs, and both crawl: 15-70x
// slower each (tests/bench/thread_policy_bench.py; its results are in
// tests/bench/results/).
//
// So a command run on its own keeps libgomp's default, and the commands
// that start processes which share the cores (`ssd local`, `ssd train
// --nproc`, `ssd trainer --nproc`) give their children PASSIVE, unless the
// user set OMP_WAIT_POLICY or GOMP_SPINCOUNT. libgomp reads those variables
// once, when it loads, so they are set for the children before they start.
#ifndef SSD_COMMON_UTIL_OMP_WAIT_POLICY_H_
#define SSD_COMMON_UTIL_OMP_WAIT_POLICY_H_

#include <string>
#include <utility>
#include <vector>

namespace ssd {

struct OmpWaitPolicy {
  const char* variable;
  const char* value;
};

inline constexpr OmpWaitPolicy kDefaultOmpWaitPolicy = {"OMP_WAIT_POLICY", "PASSIVE"};

// Set (to "1") in the environment of a process whose policy ssd chose.
inline constexpr char kOmpPolicyMarker[] = "SSD_OMP_WAIT_DEFAULT";

// For a launcher, before it starts processes that share the cores: sets
// kDefaultOmpWaitPolicy in this process's environment (so children inherit
// it) unless the user set a policy. Returns whether it set it.
bool ShareCoresWithChildren();

// The same rule for a launcher that passes its children an environment of
// their own (ProcessGroup's SpawnOptions::env): the variables to add, or
// none when the user set a policy.
std::vector<std::pair<std::string, std::string>> SharedCoresEnvironment();

// One line for `ssd env`: the variables in effect and who chose them.
std::string DescribeOmpWaitPolicy();

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_OMP_WAIT_POLICY_H_
