// CommitLog: group commit for the coordinator's state and the replay store.
//
// Every change to durable state is a WriteBatch enqueued here, in the order
// the coordinator decided it (Enqueue is called under the coordinator's
// lock, so sequence order is decision order). One thread merges whatever is
// queued into a single KvStore write with sync (one WAL fsync for many
// RPCs) and then runs the callbacks of everything that write made durable.
//
//   RPC handler (under mu)            committer thread
//   ----------------------            ----------------
//   decide, update memory             take all queued batches
//   seq = Enqueue(batch)      ──────► Apply(merged, sync=true)
//   WhenDurable(seq, finish)          durable = last seq; run callbacks
//
// A reply leaves the coordinator only from a WhenDurable callback, so no
// client ever sees state that a crash could take back. If a write fails
// the log stops for good (health() turns to the error and every pending
// and later callback gets it): memory is then ahead of disk, and only a
// restart, which reloads from disk, makes them agree again.
#ifndef SSD_COORDINATOR_COMMIT_LOG_H_
#define SSD_COORDINATOR_COMMIT_LOG_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/storage/kv_store.h"

namespace ssd {

class Counter;
class Histogram;
class MetricsRegistry;

struct CommitLogOptions {
  // Upper bound on one merged write; larger groups are split.
  size_t max_group_bytes = 64 << 20;
  bool sync = true;  // false only for benchmarks of the unsynced baseline
};

class CommitLog {
 public:
  using Callback = std::function<void(const absl::Status&)>;

  // `store` is not owned. `metrics` may be null.
  CommitLog(KvStore* store, const CommitLogOptions& options, MetricsRegistry* metrics);
  ~CommitLog();

  void Start();
  // Commits what is queued, then stops the thread. Idempotent.
  void Shutdown();

  // Queues `batch` and returns its sequence number (> 0). Never blocks on
  // I/O. An empty batch still gets a number (a barrier).
  uint64_t Enqueue(WriteBatch batch);
  // Runs `done` once every batch up to `seq` is durable, or with the error
  // that stopped the log. Callbacks run in sequence order: `done` runs
  // inline only when its outcome is known and no earlier callback is still
  // running, otherwise on the committer thread after them.
  void WhenDurable(uint64_t seq, Callback done);
  // The newest sequence number handed out.
  uint64_t last_enqueued() const;
  // Blocks until everything enqueued so far is durable and every callback
  // registered for it has run.
  absl::Status Flush();

  absl::Status health() const;
  int64_t groups_written() const;

 private:
  void Run();
  // Runs, in order, the waiters whose outcome is known, until none is left.
  void RunDecidedCallbacks();

  KvStore* const store_;
  const CommitLogOptions options_;
  Counter* groups_ = nullptr;
  Counter* bytes_ = nullptr;
  Histogram* group_seconds_ = nullptr;

  mutable absl::Mutex mu_;
  std::deque<std::pair<uint64_t, WriteBatch>> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<uint64_t, Callback>> waiters_ ABSL_GUARDED_BY(mu_);  // sorted by seq
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t durable_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // The committer is running callbacks outside the lock.
  bool notifying_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  int64_t groups_written_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_COMMIT_LOG_H_
