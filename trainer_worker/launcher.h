// Local multi-process launcher: `ssd train --nproc N` forks and execs N
// ranks of the same command on this machine and waits for them. Torch-free.
//
// Each rank runs `binary args... --rank i --world-size N --master-addr A
// --master-port P --store-owner external`; the caller hosts the rendezvous
// store at A:P (see StoreServer). Ranks inherit stdout/stderr, each leads its
// own process group, and they die with the launcher (PR_SET_PDEATHSIG). When
// a rank fails (non-zero exit or a signal) the other ranks' process groups
// are sent SIGTERM, then SIGKILL after grace_s, and the error names the first
// rank that failed and how.
#ifndef SSD_TRAINER_WORKER_LAUNCHER_H_
#define SSD_TRAINER_WORKER_LAUNCHER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ssd {

struct LaunchOptions {
  std::string binary = "/proc/self/exe";
  std::vector<std::string> args;  // after argv[0], without rank flags
  int nproc = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  int grace_s = 10;

  absl::Status Validate() const;
};

// The argv of rank `rank` (argv[0] included).
std::vector<std::string> RankArgv(const LaunchOptions& options, int rank);

// Runs the ranks to completion. OK iff every rank exited 0.
absl::Status LaunchLocalRanks(const LaunchOptions& options);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_LAUNCHER_H_
