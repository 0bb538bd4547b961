// CommQueue: one thread that runs a rank's collectives in the order they
// were queued, so the compute thread can start a layer's all-gather before
// it needs the parameters, and go on with the next layer's backward while
// the last one's gradients are reduce-scattered (sharded_model.h).
//
// Every rank queues the same collectives in the same order (the layers run
// in the same order everywhere), and one thread runs them first in, first
// out, so they meet across ranks exactly as if they ran inline.
//
// After an operation fails, those still queued are not run: each gets the
// first error, named as skipped, so a dead peer costs one timeout, not one
// per queued collective. An operation that throws fails with the
// exception's message. Torch-free.
//
// Thread-safety: Enqueue, Wait and Drain may be called from any thread.
// Start() starts the thread (idempotent). Shutdown() lets the running
// operation finish, fails what is still queued as cancelled (its peers may
// be gone), and joins the thread (idempotent; the destructor calls it).
// Operations queued before Start() run once it is called; those queued
// after Shutdown() fail at once.
#ifndef SSD_TRAINER_WORKER_COMM_QUEUE_H_
#define SSD_TRAINER_WORKER_COMM_QUEUE_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace ssd {

class CommQueue {
 public:
  // One queued operation: Wait() on it for its status.
  class Ticket {
   public:
    Ticket() = default;
    bool valid() const { return op_ != nullptr; }

   private:
    friend class CommQueue;
    struct Op;
    std::shared_ptr<Op> op_;
  };

  CommQueue() = default;
  ~CommQueue();
  CommQueue(const CommQueue&) = delete;
  CommQueue& operator=(const CommQueue&) = delete;

  void Start();
  void Shutdown();

  // Queues `op`; `what` names it in errors ("all-gather of layer 3").
  Ticket Enqueue(std::string what, std::function<absl::Status()> op);
  // Blocks until the ticket's operation has run (or was skipped); its
  // status. An invalid ticket is OK at once.
  absl::Status Wait(const Ticket& ticket);
  // Blocks until everything queued so far has run; the first error since
  // the last Drain, or OK.
  absl::Status Drain();

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<std::shared_ptr<Ticket::Op>> queue_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Ticket::Op> newest_ ABSL_GUARDED_BY(mu_);
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);  // since the last Drain
  bool failed_ ABSL_GUARDED_BY(mu_) = false;       // skip what is still queued
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_ ABSL_GUARDED_BY(mu_) = false;  // Shutdown began: Enqueue fails at once
  std::thread thread_;  // touched by Start and Shutdown only (the owner's thread)
};

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_COMM_QUEUE_H_
