#include "coordinator/server/stream_limiter.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ssd {

StreamLimiter::Slot& StreamLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    peer_ = std::move(other.peer_);
    other.owner_ = nullptr;
  }
  return *this;
}

void StreamLimiter::Slot::Release() {
  if (owner_ == nullptr) return;
  owner_->Release(peer_);
  owner_ = nullptr;
}

absl::StatusOr<StreamLimiter::Slot> StreamLimiter::Acquire(const std::string& peer, absl::string_view method) {
  absl::MutexLock lock(&mu_);
  int& open = open_[peer];
  if (open >= max_per_client_) {
    return absl::ResourceExhaustedError(absl::StrCat(method, ": this connection already has ", open,
                                                     " streams open, the coordinator's limit per client "
                                                     "(--max-streams-per-client); finish one first"));
  }
  ++open;
  return Slot(this, peer);
}

int StreamLimiter::Open(const std::string& peer) const {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(peer);
  return it == open_.end() ? 0 : it->second;
}

void StreamLimiter::Release(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(peer);
  if (it == open_.end()) return;
  if (--it->second <= 0) open_.erase(it);
}

}  // namespace ssd
