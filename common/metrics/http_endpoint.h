// The HTTP side of every daemon (cpp-httplib): Prometheus text metrics on
// /metrics, a readiness probe on /healthz (200 "ok", or 503 with the
// reason) and a liveness probe on /livez (200 while the process answers),
// for Kubernetes probes and scrapers.
#ifndef SSD_COMMON_METRICS_HTTP_ENDPOINT_H_
#define SSD_COMMON_METRICS_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/metrics/metrics_registry.h"

namespace httplib {
class Server;
}

namespace ssd {

struct HttpEndpointOptions {
  std::string host = "0.0.0.0";
  int port = 0;  // 0: an ephemeral port (see HttpEndpoint::port())
};

class HttpEndpoint {
 public:
  // `registry` must outlive the endpoint. `health` returns OK when the
  // daemon is serving; its message is the 503 body otherwise.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const HttpEndpointOptions& options,
                                                             const MetricsRegistry* registry,
                                                             std::function<absl::Status()> health);
  ~HttpEndpoint();
  // Idempotent; joins the server thread.
  void Shutdown();
  int port() const { return port_; }

 private:
  HttpEndpoint() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace ssd

#endif  // SSD_COMMON_METRICS_HTTP_ENDPOINT_H_
