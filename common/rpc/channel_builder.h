// Builds every gRPC client channel of ssd from one options struct: TLS (or
// local credentials with --insecure), the bearer token on every call,
// message-size limits and keepalive. Every call also needs a deadline:
// CallContext() makes a ClientContext with one.
#ifndef SSD_COMMON_RPC_CHANNEL_BUILDER_H_
#define SSD_COMMON_RPC_CHANNEL_BUILDER_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/rpc/security.h"

namespace ssd {

struct ChannelOptions {
  std::string target;  // host:port
  SecurityOptions security;
  int64_t max_message_bytes = 64 << 20;
  int64_t keepalive_time_ms = 30000;
  int64_t keepalive_timeout_ms = 10000;
  // Reconnect backoff ceiling, so a restarted coordinator is found quickly.
  int64_t max_reconnect_backoff_ms = 2000;

  absl::Status Validate() const;
};

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ChannelOptions& options);

// A ClientContext whose deadline is `timeout_ms` from now. With
// `wait_for_ready`, the call waits (up to the deadline) for the channel to
// connect instead of failing at once while the server is down.
std::unique_ptr<grpc::ClientContext> CallContext(int64_t timeout_ms, bool wait_for_ready = false);

}  // namespace ssd

#endif  // SSD_COMMON_RPC_CHANNEL_BUILDER_H_
