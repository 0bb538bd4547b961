// The coordinator daemon inside the test process: the real server wiring
// (JobService, WorkerService, ReplayStore on a loopback port with the token)
// over the in-memory store and a fake clock, so that a worker's loop (the
// sampler worker, the trainer agent, the worker session) can be tested in
// process, time moved by hand and the coordinator restarted on its store.
//
//   InProcessCoordinator c;
//   ASSERT_TRUE(c.Start().ok());
//   auto job = c.Client()->Submit(c.SamplingSpec(4), c.dir());
//   WorkerSessionOptions o;  o.channel = c.Channel();
#ifndef SSD_TESTS_CLUSTER_IN_PROCESS_COORDINATOR_H_
#define SSD_TESTS_CLUSTER_IN_PROCESS_COORDINATOR_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/rpc/channel_builder.h"
#include "common/storage/in_memory_kv_store.h"
#include "coordinator/client/cluster_client.h"
#include "coordinator/clock.h"
#include "coordinator/coordinator_options.h"
#include "coordinator/server/coordinator_server.h"
#include "tests/testing/temp_dir.h"

namespace ssd {

class InProcessCoordinator {
 public:
  // Short heartbeats and leases, so that revocations arrive within a
  // second of a change.
  static CoordinatorOptions FastOptions();

  explicit InProcessCoordinator(CoordinatorOptions options = FastOptions());
  ~InProcessCoordinator();

  // Serves on an ephemeral port the first time, and on the same port after
  // a Stop(), so that clients find it again.
  absl::Status Start();
  void Stop();
  // While stopped: replaces the store with an empty one (a coordinator that
  // lost its data dir).
  void ForgetEverything();
  bool running() const { return server_ != nullptr; }

  FakeClock& clock() { return clock_; }
  // A scratch folder for problem files and worker state.
  const std::string& dir() const { return dir_; }
  std::string address() const;
  // Loopback without TLS (the daemon's --insecure), with the token.
  ChannelOptions Channel() const;
  std::unique_ptr<ClusterClient> Client() const;

  // `n` problems p0..p(n-1) in dir()/problems.jsonl, and a job spec of one
  // round sampling them (shard_size, samples per problem) with `extra` YAML
  // appended.
  std::string SamplingSpec(int problems, int shard_size, int n, const std::string& extra = "") const;

  // Acts as one sampler until no shard of `job_id` is left: leases each
  // shard, appends SampledText(problem, index) for every sample it asks
  // for, and reports it done. Returns the samples appended.
  absl::StatusOr<int64_t> SampleEverything(const std::string& job_id);
  static std::string SampledText(const std::string& problem, int64_t index);

 private:
  const CoordinatorOptions options_;
  ScopedTempDir tmp_{"ssd_in_process_coordinator"};
  const std::string dir_ = tmp_.path();
  FakeClock clock_;
  std::unique_ptr<InMemoryKvStore> store_;
  std::unique_ptr<CoordinatorServer> server_;
  int port_ = 0;
};

}  // namespace ssd

#endif  // SSD_TESTS_CLUSTER_IN_PROCESS_COORDINATOR_H_
