// `ssd local JOB.yaml`: a whole cluster on this machine as child processes
// of this one (a coordinator, samplers, trainers) on 127.0.0.1 with
// ephemeral ports, a development certificate and token, and state under
// --data-dir (a temporary folder unless given; `ssd coordinator --data-dir
// DIR/coordinator` opens it again later, to export from). The job runs with
// the `watch` view; every child is stopped on exit, on Ctrl-C, and as soon
// as one of them dies (the log of the one that died is shown).
//
// The cores are split between the processes: each gets
// max(1, cores / (samplers + trainers)) threads and OMP_WAIT_POLICY=PASSIVE,
// because spinning OpenMP threads of processes sharing cores slow each
// other several-fold.
#ifndef SSD_COORDINATOR_CLIENT_LOCAL_CLUSTER_H_
#define SSD_COORDINATOR_CLIENT_LOCAL_CLUSTER_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ssd {

struct LocalClusterOptions {
  std::string spec_path;
  int samplers = 2;
  int trainers = 2;
  int port = 0;                           // the coordinator's; 0, or in use: a free one the kernel picks
  std::string data_dir;                   // "" : a fresh folder under $TMPDIR
  int threads_per_process = 0;            // 0 : split the cores
  bool unsafe_sandbox = false;            // grade eval answers without bubblewrap
  bool json = false;                      // the watch as JSON lines
  std::vector<std::string> sampler_args;  // extra flags
  std::vector<std::string> trainer_args;
  std::string ssd_binary;  // default: this executable
  absl::Status Validate() const;
};

// Returns the exit code (as ssd watch: 0 for SUCCEEDED), or an error when
// the cluster could not be brought up or a child died.
absl::StatusOr<int> RunLocalCluster(const LocalClusterOptions& options, std::ostream& out);

}  // namespace ssd

#endif  // SSD_COORDINATOR_CLIENT_LOCAL_CLUSTER_H_
