// The trainer daemon (`ssd trainer`): the agent loop plus /metrics and
// /healthz (step, loss, step time, tokens/s, pushes and their rate).
#ifndef SSD_TRAINER_WORKER_TRAINER_DAEMON_H_
#define SSD_TRAINER_WORKER_TRAINER_DAEMON_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "trainer_worker/trainer_agent.h"

namespace ssd {

struct TrainerDaemonOptions {
  TrainerAgentOptions agent;
  int metrics_port = -1;
  std::string metrics_host = "0.0.0.0";
};

class TrainerDaemon {
 public:
  static absl::StatusOr<std::unique_ptr<TrainerDaemon>> Start(const TrainerDaemonOptions& options);
  ~TrainerDaemon();
  absl::Status Run();
  void Drain();
  int metrics_port() const;

 private:
  struct Impl;
  explicit TrainerDaemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_TRAINER_DAEMON_H_
