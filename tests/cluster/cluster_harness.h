// A local cluster for tests and benchmarks: `ssd coordinator` and simulated
// workers as real processes on 127.0.0.1 (each in its own process group,
// killed and reaped by the destructors), TLS certificates and a token made
// by `ssd certs init`, a temporary folder, and a client.
#ifndef SSD_TESTS_CLUSTER_CLUSTER_HARNESS_H_
#define SSD_TESTS_CLUSTER_CLUSTER_HARNESS_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/client/cluster_client.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {

class LocalCluster {
 public:
  // Makes the folder and the certificates.
  LocalCluster();
  ~LocalCluster();

  const std::string& dir() const { return dir_; }
  const std::string& certs() const { return certs_; }
  std::string data_dir() const { return dir_ + "/data"; }

  // Starts the coordinator (on `port`, or an ephemeral one the first time;
  // a restart reuses the same port). Returns false if it did not come up.
  bool StartCoordinator(const std::vector<std::string>& extra_args = {});
  void KillCoordinator(int sig = 9);
  BackgroundProcess* coordinator() { return coordinator_.get(); }
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "localhost:" + std::to_string(port_); }

  // A simulated worker (tests/cluster/sim_worker.cc) with extra flags.
  BackgroundProcess* StartWorker(const std::string& role, const std::vector<std::string>& extra_args = {});
  // Real workers: `ssd sampler` / `ssd trainer` with one thread each.
  BackgroundProcess* StartSampler(const std::vector<std::string>& extra_args = {});
  BackgroundProcess* StartTrainer(const std::vector<std::string>& extra_args = {});
  std::vector<std::unique_ptr<BackgroundProcess>>& workers() { return workers_; }

  std::unique_ptr<ClusterClient> Client(const std::string& token_override = "") const;
  // `ssd <args> --coordinator ... --certs ...`, run to completion.
  ProcessResult Ssd(const std::vector<std::string>& args, int timeout_s = 120) const;

  // A problem file of `n` raw prompts p0..p{n-1}; returns its path.
  std::string WriteProblems(int n, const std::string& name = "problems.jsonl") const;
  // Writes `yaml` as a spec file next to the problems; returns its path.
  std::string WriteSpec(const std::string& yaml, const std::string& name = "job.yaml") const;

  // GET http://127.0.0.1:<metrics_port><path>; "" on failure.
  std::string HttpGet(const std::string& path) const;

 private:
  ScopedTempDir tmp_{"ssd_cluster"};  // first: removed after everything else
  std::string dir_ = tmp_.path();
  std::string certs_;
  int port_ = 0;
  int metrics_port_ = -1;
  int starts_ = 0;
  std::unique_ptr<BackgroundProcess> coordinator_;
  std::vector<std::unique_ptr<BackgroundProcess>> workers_;
};

std::string SimWorkerBinary();

// A round's stored samples by (problem, sample index), read with
// ReplayStore.Scan (`survivors`: the filter's survivors only). A key stored
// twice goes to `duplicates` ("problem#index"); a failed scan to `error`.
using ScannedSamples = std::map<std::pair<std::string, int64_t>, v1::ScannedSample>;
ScannedSamples ScanRound(ClusterClient* client, const std::string& job, int round, bool survivors,
                         std::vector<std::string>* duplicates, std::string* error);

}  // namespace ssd

#endif  // SSD_TESTS_CLUSTER_CLUSTER_HARNESS_H_
