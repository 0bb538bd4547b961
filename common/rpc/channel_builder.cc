#include "common/rpc/channel_builder.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/rpc/token_auth.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

constexpr int64_t kMinConnectTimeoutMs = 10000;

}  // namespace

absl::Status ChannelOptions::Validate() const {
  RETURN_IF_ERROR(security.Validate(/*server=*/false));
  if (target.empty()) return absl::InvalidArgumentError("--coordinator: no address (host:port)");
  if (security.insecure && !IsLoopbackAddress(target)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--coordinator: ", target, " is not a loopback address; --insecure is plaintext and for 127.0.0.1 only"));
  }
  if (max_message_bytes < (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("max_message_bytes: ", max_message_bytes, " is below 1 MiB"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ChannelOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> transport, MakeChannelCredentials(options.security));
  auto creds = grpc::CompositeChannelCredentials(
      transport, BearerTokenCredentials(options.security.token, options.security.insecure));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  args.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive_time_ms));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(options.keepalive_timeout_ms));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(options.max_reconnect_backoff_ms));
  // Retry a refused connection soon (a daemon restarting), but give each
  // attempt time to finish its TCP and TLS handshakes: gRPC takes
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS as the minimum connect timeout, and at
  // 100 ms a handshake on a loaded host timed out before the server's
  // SETTINGS frame arrived ("cannot reach the coordinator").
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(kMinConnectTimeoutMs));
  if (!options.security.server_name.empty()) {
    args.SetSslTargetNameOverride(options.security.server_name);
  }
  // Each channel gets its own connection, so that several clients in one
  // process (tests, benchmarks) do not share one HTTP/2 connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(options.target, creds, args);
}

std::unique_ptr<grpc::ClientContext> CallContext(int64_t timeout_ms, bool wait_for_ready) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  ctx->set_wait_for_ready(wait_for_ready);
  return ctx;
}

}  // namespace ssd
