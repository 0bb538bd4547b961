// The coordinator daemon: RocksDB under --data-dir, the Coordinator, its two
// gRPC services (plus grpc.health.v1) on one TLS port, and /metrics +
// /healthz over HTTP. `ssd coordinator` builds one from flags and runs it
// until SIGINT or SIGTERM.
#ifndef SSD_COORDINATOR_SERVER_COORDINATOR_SERVER_H_
#define SSD_COORDINATOR_SERVER_COORDINATOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/rpc/server_builder.h"
#include "coordinator/coordinator_options.h"

namespace ssd {

class Clock;
class KvStore;

struct CoordinatorServerOptions {
  std::string data_dir;
  ServerOptions rpc;      // listen address, TLS, token, limits
  int metrics_port = -1;  // -1: no HTTP endpoint; 0: ephemeral
  std::string metrics_host = "0.0.0.0";
  CoordinatorOptions coordinator;
  // Streaming calls one client connection may hold open at once
  // (stream_limiter.h).
  int max_streams_per_client = 64;

  absl::Status Validate() const;
};

class CoordinatorServer {
 public:
  // Opens RocksDB under options.data_dir and serves on the real clock.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const CoordinatorServerOptions& options);
  // The same daemon over a store and a clock the caller owns, which must
  // outlive it (tests: the in-memory store and a fake clock); data_dir is
  // not used.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> StartOn(const CoordinatorServerOptions& options,
                                                                    KvStore* store, Clock* clock);
  ~CoordinatorServer();
  // Stops accepting calls (in-flight ones get a short grace), commits what
  // is queued and closes the store. Idempotent.
  void Shutdown();
  int port() const;
  int metrics_port() const;

 private:
  struct Impl;
  explicit CoordinatorServer(std::unique_ptr<Impl> impl);
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Serve(const CoordinatorServerOptions& options,
                                                                  std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_SERVER_COORDINATOR_SERVER_H_
