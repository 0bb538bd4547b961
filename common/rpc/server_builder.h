// Builds every gRPC server of ssd from one options struct: TLS or local
// credentials, the bearer-token check, message-size limits, keepalive, the
// grpc.health.v1 service and per-method latency metrics.
#ifndef SSD_COMMON_RPC_SERVER_BUILDER_H_
#define SSD_COMMON_RPC_SERVER_BUILDER_H_

#include <grpcpp/server.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/rpc/security.h"

namespace grpc {
class Service;
}

namespace ssd {

class MetricsRegistry;

struct ServerOptions {
  std::string listen_address = "127.0.0.1:0";  // port 0: ephemeral
  SecurityOptions security;
  // Largest message either way. A 4 MiB chunk is larger than 4 MiB on the
  // wire, so clients and servers both set limits well above their chunks.
  int64_t max_message_bytes = 64 << 20;
  int64_t keepalive_time_ms = 30000;
  int64_t keepalive_timeout_ms = 10000;
  // Callable without a token.
  std::set<std::string> public_methods = {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"};
  // When set, ssd_rpc_server_* metrics are recorded here; must outlive the
  // server.
  MetricsRegistry* metrics = nullptr;

  absl::Status Validate() const;
};

struct BuiltServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // the bound port
};

// Services are not owned and must outlive the server. Starts serving.
absl::StatusOr<BuiltServer> BuildServer(const ServerOptions& options, const std::vector<grpc::Service*>& services);

}  // namespace ssd

#endif  // SSD_COMMON_RPC_SERVER_BUILDER_H_
