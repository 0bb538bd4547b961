// A small fixed pool of threads for work that must not run inside a gRPC
// reaction: reading problem files at submit, store scans, imports.
#ifndef SSD_COORDINATOR_SERVER_EXECUTOR_H_
#define SSD_COORDINATOR_SERVER_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ssd {

class Executor {
 public:
  explicit Executor(int threads);
  // Runs what is queued, then joins.
  ~Executor();
  void Schedule(std::function<void()> fn);

 private:
  void Run();
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_SERVER_EXECUTOR_H_
