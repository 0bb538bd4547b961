// The sampler daemon (`ssd sampler`): its gRPC server (ssd.v1.Sampler for
// weights, plus health), /metrics and /healthz, the weights store under
// --work-dir, the eval sandbox, and the worker loop. The generation backend
// is handed in, so this library needs no libtorch.
#ifndef SSD_SAMPLER_WORKER_SAMPLER_DAEMON_H_
#define SSD_SAMPLER_WORKER_SAMPLER_DAEMON_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/rpc/channel_builder.h"
#include "common/rpc/server_builder.h"
#include "sampler_worker/generation_backend.h"
#include "sampler_worker/sampler_worker.h"

namespace ssd {

struct SamplerDaemonOptions {
  std::string coordinator;  // host:port
  SecurityOptions client;   // to the coordinator and to peers
  ServerOptions server;     // its own port (listen address, TLS)
  std::string advertise;    // host:port peers use; default: the listen host and bound port
  std::string work_dir;
  int metrics_port = -1;
  std::string metrics_host = "0.0.0.0";
  v1::WorkerCapabilities capabilities;
  GradeOptions grade;
  int grade_parallel = 2;
  bool unsafe_sandbox = false;  // grade without bubblewrap (tests on machines without it)
  int64_t drain_timeout_ms = 60000;

  absl::Status Validate() const;
};

class SamplerDaemon {
 public:
  static absl::StatusOr<std::unique_ptr<SamplerDaemon>> Start(const SamplerDaemonOptions& options,
                                                              std::unique_ptr<GenerationBackend> backend);
  ~SamplerDaemon();
  // Works until Drain()/Stop(); returns then.
  absl::Status Run();
  void Drain();
  void Shutdown();
  int port() const;
  int metrics_port() const;

 private:
  struct Impl;
  explicit SamplerDaemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_SAMPLER_DAEMON_H_
