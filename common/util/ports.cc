#include "common/util/ports.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ssd {
namespace {

// Binds a new socket to 127.0.0.1:port, or to every address when `any`;
// returns the fd and the bound port.
absl::StatusOr<std::pair<int, int>> Bind(int port, bool any) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("bind ", any ? "0.0.0.0:" : "127.0.0.1:", port, ": ", strerror(err)));
  }
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return std::make_pair(fd, static_cast<int>(ntohs(a.sin_port)));
}

}  // namespace

absl::StatusOr<LoopbackListener> LoopbackListener::Open(int backlog) {
  absl::StatusOr<std::pair<int, int>> bound = Bind(0, /*any=*/false);
  if (!bound.ok()) return bound.status();
  if (listen(bound->first, backlog) != 0) {
    const int err = errno;
    close(bound->first);
    return absl::InternalError(absl::StrCat("listen: ", strerror(err)));
  }
  return LoopbackListener(bound->first, bound->second);
}

LoopbackListener::LoopbackListener(LoopbackListener&& other) noexcept : fd_(other.fd_), port_(other.port_) {
  other.fd_ = -1;
}

LoopbackListener& LoopbackListener::operator=(LoopbackListener&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    port_ = other.port_;
    other.fd_ = -1;
  }
  return *this;
}

LoopbackListener::~LoopbackListener() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<int> PickFreePort() {
  absl::StatusOr<std::pair<int, int>> bound = Bind(0, /*any=*/true);
  if (!bound.ok()) return bound.status();
  close(bound->first);
  return bound->second;
}

bool PortIsFree(int port) {
  absl::StatusOr<std::pair<int, int>> bound = Bind(port, /*any=*/false);
  if (!bound.ok()) return false;
  close(bound->first);
  return true;
}

}  // namespace ssd
