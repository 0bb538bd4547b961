// StreamLimiter: bounds the streaming calls one client connection holds open
// at once on the coordinator (WatchJob, Append, Scan, Export, Import), so
// that one client cannot pin the coordinator's memory and threads with
// streams it never finishes. A client is a connection (gRPC's peer string,
// address and port): samplers on one host each have their own.
//
// Each stream takes a Slot when it starts and gives it back when its
// reactor is done; a stream over the limit gets RESOURCE_EXHAUSTED naming the
// method and the limit, before anything is read.
#ifndef SSD_COORDINATOR_SERVER_STREAM_LIMITER_H_
#define SSD_COORDINATOR_SERVER_STREAM_LIMITER_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace ssd {

class StreamLimiter {
 public:
  // One open stream; gives its place back when destroyed. Move-only.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : owner_(other.owner_), peer_(std::move(other.peer_)) { other.owner_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { Release(); }

   private:
    friend class StreamLimiter;
    Slot(StreamLimiter* owner, std::string peer) : owner_(owner), peer_(std::move(peer)) {}
    void Release();

    StreamLimiter* owner_ = nullptr;
    std::string peer_;
  };

  explicit StreamLimiter(int max_per_client) : max_per_client_(max_per_client) {}

  absl::StatusOr<Slot> Acquire(const std::string& peer, absl::string_view method);

  // Streams open now for `peer` (for tests and metrics).
  int Open(const std::string& peer) const;
  int max_per_client() const { return max_per_client_; }

 private:
  void Release(const std::string& peer);

  const int max_per_client_;
  mutable absl::Mutex mu_;
  std::map<std::string, int> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_SERVER_STREAM_LIMITER_H_
