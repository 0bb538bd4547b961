#include "coordinator/commit_log.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>

#include "common/metrics/metrics_registry.h"

namespace ssd {

CommitLog::CommitLog(KvStore* store, const CommitLogOptions& options, MetricsRegistry* metrics)
    : store_(store), options_(options) {
  if (metrics != nullptr) {
    groups_ = &metrics->AddCounter("ssd_store_commit_groups_total", "Synced writes of the commit log.").WithLabels({});
    bytes_ =
        &metrics->AddCounter("ssd_store_written_bytes_total", "Bytes written through the commit log.").WithLabels({});
    group_seconds_ = &metrics
                          ->AddHistogram("ssd_store_commit_duration_seconds", "Time of one synced group write.", {},
                                         LatencyBucketsSeconds())
                          .WithLabels({});
  }
}

CommitLog::~CommitLog() { Shutdown(); }

void CommitLog::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void CommitLog::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  // Without a running thread nothing more becomes durable: fail the rest.
  std::deque<std::pair<uint64_t, Callback>> waiters;
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    if (error_.ok() && (!queue_.empty() || !waiters_.empty())) {
      error_ = absl::UnavailableError("the coordinator is shutting down");
    }
    queue_.clear();
    waiters.swap(waiters_);
    error = error_;
  }
  for (auto& [seq, cb] : waiters) cb(error);
}

uint64_t CommitLog::Enqueue(WriteBatch batch) {
  absl::MutexLock lock(&mu_);
  const uint64_t seq = next_seq_++;
  queue_.emplace_back(seq, std::move(batch));
  return seq;
}

void CommitLog::WhenDurable(uint64_t seq, Callback done) {
  absl::Status now;
  {
    absl::MutexLock lock(&mu_);
    // While the committer runs callbacks, later ones queue behind them even
    // when their outcome is known, so callbacks run in sequence order and a
    // callback that runs means every earlier one has run.
    if (notifying_ || (seq > durable_ && error_.ok())) {
      // Waiters arrive nearly in order; insert from the back.
      auto it = waiters_.end();
      while (it != waiters_.begin() && std::prev(it)->first > seq) --it;
      waiters_.emplace(it, seq, std::move(done));
      return;
    }
    now = seq <= durable_ ? absl::OkStatus() : error_;
  }
  done(now);
}

uint64_t CommitLog::last_enqueued() const {
  absl::MutexLock lock(&mu_);
  return next_seq_ - 1;
}

absl::Status CommitLog::Flush() {
  const uint64_t seq = last_enqueued();
  absl::Mutex m;
  bool done = false;
  absl::Status result;
  WhenDurable(seq, [&](const absl::Status& s) {
    absl::MutexLock l(&m);
    result = s;
    done = true;
  });
  absl::MutexLock l(&m);
  m.Await(absl::Condition(&done));
  return result;
}

absl::Status CommitLog::health() const {
  absl::MutexLock lock(&mu_);
  return error_;
}

int64_t CommitLog::groups_written() const {
  absl::MutexLock lock(&mu_);
  return groups_written_;
}

void CommitLog::Run() {
  for (;;) {
    WriteBatch merged;
    uint64_t last = 0;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (!error_.ok()) queue_.clear();  // nothing more is written after a failure
      if (queue_.empty()) {
        if (stop_) return;
        continue;
      }
      while (!queue_.empty() &&
             (merged.empty() || merged.bytes() + queue_.front().second.bytes() <= options_.max_group_bytes)) {
        merged.Append(std::move(queue_.front().second));
        last = queue_.front().first;
        queue_.pop_front();
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    const absl::Status s = merged.empty() ? absl::OkStatus() : store_->Apply(merged, options_.sync);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
      absl::MutexLock lock(&mu_);
      if (s.ok()) {
        durable_ = last;
        ++groups_written_;
      } else {
        LOG(ERROR) << "commit log: a write failed; the coordinator refuses further changes until it is restarted: "
                   << s;
        error_ = s;
        queue_.clear();
      }
      notifying_ = true;
    }
    if (s.ok() && groups_ != nullptr) {
      groups_->Increment();
      bytes_->Increment(merged.bytes());
      group_seconds_->Observe(seconds);
    }
    RunDecidedCallbacks();
  }
}

void CommitLog::RunDecidedCallbacks() {
  // Callbacks run without the lock, so a callback may enqueue or wait; a
  // waiter added meanwhile whose outcome is already known runs in the next
  // pass, and the flag drops only when none is left.
  for (;;) {
    std::vector<std::pair<Callback, absl::Status>> ready;
    {
      absl::MutexLock lock(&mu_);
      while (!waiters_.empty() && (waiters_.front().first <= durable_ || !error_.ok())) {
        ready.emplace_back(std::move(waiters_.front().second),
                           waiters_.front().first <= durable_ ? absl::OkStatus() : error_);
        waiters_.pop_front();
      }
      if (ready.empty()) {
        notifying_ = false;
        return;
      }
    }
    for (auto& [cb, status] : ready) cb(status);
  }
}

}  // namespace ssd
