// ManagedServer: an inference server the sampler runs as its own child
// (`--backend-command`), in its own process group, restarted on each new
// weights version's folder.
//
// The command is a shell line with two placeholders: {model} (the folder,
// shell-quoted) and {port}. For vLLM:
//   vllm serve {model} --port {port} --seed 0 --generation-config vllm
// Its output goes to `log_path`. Stop() is SIGTERM to the group, a grace
// period, then SIGKILL; the destructor stops it too, so the server never
// outlives the worker (and dies with it: PR_SET_PDEATHSIG).
// Not thread-safe: the worker loop's thread owns it.
#ifndef SSD_SAMPLER_WORKER_MANAGED_SERVER_H_
#define SSD_SAMPLER_WORKER_MANAGED_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/util/process_group.h"

namespace ssd {

// The command line with {model} and {port} filled in. INVALID_ARGUMENT when
// it lacks {model} (the server could not be pointed at new weights).
absl::StatusOr<std::string> ExpandServerCommand(const std::string& command, const std::string& model_dir, int port);

class ManagedServer {
 public:
  ManagedServer(std::string command, std::string log_path) : command_(std::move(command)), log_path_(std::move(log_path)) {}
  ~ManagedServer() { Stop(); }

  // Stops any running server and starts one on `model_dir` and `port`.
  absl::Status Start(const std::string& model_dir, int port);
  // Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(30));
  // Whether the child still runs; when it does not, `why` says how it ended
  // and shows the end of its log.
  bool Alive(std::string* why);
  const std::string& model_dir() const { return model_dir_; }
  int port() const { return port_; }

 private:
  const std::string command_;
  const std::string log_path_;
  std::unique_ptr<ProcessGroup> child_;
  std::string model_dir_;
  int port_ = 0;
};

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_MANAGED_SERVER_H_
