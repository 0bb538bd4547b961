// TCP ports on this machine. Servers in ssd bind port 0 and read back the
// port they got; these are for the few places that must name a port before
// the process that binds it starts (a training rank's rendezvous, which is
// announced to the coordinator first), and for tests.
#ifndef SSD_COMMON_UTIL_PORTS_H_
#define SSD_COMMON_UTIL_PORTS_H_

#include "absl/status/statusor.h"

namespace ssd {

// A socket listening on 127.0.0.1 at a port the kernel picked. Closed on
// destruction. Move-only.
class LoopbackListener {
 public:
  static absl::StatusOr<LoopbackListener> Open(int backlog = 16);
  LoopbackListener(LoopbackListener&& other) noexcept;
  LoopbackListener& operator=(LoopbackListener&& other) noexcept;
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;
  ~LoopbackListener();

  int fd() const { return fd_; }
  int port() const { return port_; }

 private:
  LoopbackListener(int fd, int port) : fd_(fd), port_(port) {}
  int fd_ = -1;
  int port_ = 0;
};

// A port the kernel just handed out on every address (0.0.0.0) and that is
// free again now. Another process may take it before the caller binds it; callers
// that can bind port 0 themselves should.
absl::StatusOr<int> PickFreePort();

// Whether 127.0.0.1:`port` can be bound right now.
bool PortIsFree(int port);

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_PORTS_H_
