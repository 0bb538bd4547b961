// A Sandbox for tests: returns scripted results and records what it was
// asked to run, so grader logic is tested without Python or bubblewrap.
#ifndef SSD_COMMON_EVAL_FAKE_SANDBOX_H_
#define SSD_COMMON_EVAL_FAKE_SANDBOX_H_

#include <functional>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/eval/sandbox.h"

namespace ssd {

class FakeSandbox : public Sandbox {
 public:
  using Script = std::function<absl::StatusOr<ProcessRunResult>(const SandboxCommand&)>;
  // own_pid_namespace: claim bubblewrap's layout, so that graders send
  // batches (the script then answers for every item).
  explicit FakeSandbox(Script script, int max_parallel = 1, bool own_pid_namespace = false)
      : script_(std::move(script)), max_parallel_(max_parallel), own_pid_namespace_(own_pid_namespace) {}

  absl::StatusOr<ProcessRunResult> Run(const SandboxCommand& command) override {
    {
      absl::MutexLock lock(&mu_);
      commands_.push_back(command);
    }
    return script_(command);
  }
  absl::string_view name() const override { return "fake"; }
  int max_parallel() const override { return max_parallel_; }
  bool own_pid_namespace() const override { return own_pid_namespace_; }

  std::vector<SandboxCommand> commands() {
    absl::MutexLock lock(&mu_);
    return commands_;
  }

 private:
  const Script script_;
  const int max_parallel_;
  const bool own_pid_namespace_;
  absl::Mutex mu_;
  std::vector<SandboxCommand> commands_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_FAKE_SANDBOX_H_
