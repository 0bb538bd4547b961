#include "trainer_worker/comm_queue.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ssd {

struct CommQueue::Ticket::Op {
  std::string what;
  std::function<absl::Status()> fn;
  bool done = false;  // guarded by the queue's mu_
  absl::Status status;
};

CommQueue::~CommQueue() { Shutdown(); }

void CommQueue::Start() {
  if (thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
    shut_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void CommQueue::Shutdown() {
  if (!thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    shut_ = true;  // from now on Enqueue fails at once
    // What has not started is failed now, so no waiter waits for a peer
    // that may be gone.
    for (const std::shared_ptr<Ticket::Op>& op : queue_) {
      op->fn = nullptr;
      op->status = absl::CancelledError(absl::StrCat(op->what, ": not run: the queue shut down"));
      op->done = true;
    }
    queue_.clear();
  }
  thread_.join();
}

CommQueue::Ticket CommQueue::Enqueue(std::string what, std::function<absl::Status()> fn) {
  Ticket t;
  t.op_ = std::make_shared<Ticket::Op>();
  t.op_->what = std::move(what);
  t.op_->fn = std::move(fn);
  absl::MutexLock lock(&mu_);
  if (shut_) {
    t.op_->fn = nullptr;
    t.op_->status = absl::CancelledError(absl::StrCat(t.op_->what, ": not run: the queue is shut down"));
    t.op_->done = true;
    return t;
  }
  queue_.push_back(t.op_);
  newest_ = t.op_;
  return t;
}

absl::Status CommQueue::Wait(const Ticket& t) {
  if (!t.valid()) return absl::OkStatus();
  Ticket::Op* op = t.op_.get();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(+[](Ticket::Op* o) { return o->done; }, op));
  return op->status;
}

absl::Status CommQueue::Drain() {
  std::shared_ptr<Ticket::Op> last;
  {
    absl::MutexLock lock(&mu_);
    last = newest_;
  }
  if (last != nullptr) {
    Ticket t;
    t.op_ = last;
    Wait(t).IgnoreError();  // the first error is reported below
  }
  absl::MutexLock lock(&mu_);
  absl::Status s = first_error_;
  first_error_ = absl::OkStatus();
  failed_ = false;
  return s;
}

void CommQueue::Run() {
  for (;;) {
    std::shared_ptr<Ticket::Op> op;
    absl::Status skip;  // why it is not run, or OK to run it
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(+[](CommQueue* q) { return !q->queue_.empty() || q->stopping_; }, this));
      if (queue_.empty()) return;  // stopping, and nothing is left
      op = queue_.front();
      queue_.pop_front();
      if (failed_) {
        skip = absl::Status(first_error_.code(), absl::StrCat(op->what, ": skipped after an earlier collective failed: ",
                                                              first_error_.message()));
      }
    }
    absl::Status s = skip;
    if (s.ok()) {
      try {
        s = op->fn();
      } catch (const std::exception& e) {
        s = absl::InternalError(e.what());
      }
      if (!s.ok()) s = absl::Status(s.code(), absl::StrCat(op->what, ": ", s.message()));
    }
    op->fn = nullptr;  // release what it captured before waking the waiter
    absl::MutexLock lock(&mu_);
    op->status = s;
    op->done = true;
    if (!s.ok() && !failed_ && skip.ok()) {
      failed_ = true;
      first_error_ = s;
    }
  }
}

}  // namespace ssd
