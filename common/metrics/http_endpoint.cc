#include "common/metrics/http_endpoint.h"

#include <httplib.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ssd {

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const HttpEndpointOptions& options,
                                                                  const MetricsRegistry* registry,
                                                                  std::function<absl::Status()> health) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics-port: ", options.port, " is not a TCP port"));
  }
  std::unique_ptr<HttpEndpoint> ep(new HttpEndpoint());
  ep->server_ = std::make_unique<httplib::Server>();
  // httplib's default also sets SO_REUSEPORT, which would let a second
  // daemon bind the same port silently; keep only SO_REUSEADDR.
  ep->server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  ep->server_->Get("/metrics", [registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry->Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  // Liveness: the process runs and answers. /healthz (readiness) can say
  // 503 for a while (a sampler whose inference server is down), which must
  // not get the process restarted.
  ep->server_->Get("/livez", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  ep->server_->Get("/healthz", [health](const httplib::Request&, httplib::Response& res) {
    const absl::Status s = health ? health() : absl::OkStatus();
    if (s.ok()) {
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content(absl::StrCat(s.message(), "\n"), "text/plain");
    }
  });
  const int port = options.port == 0 ? ep->server_->bind_to_any_port(options.host)
                                     : (ep->server_->bind_to_port(options.host, options.port) ? options.port : -1);
  if (port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-port: cannot listen on ", options.host, ":", options.port, " (in use?)"));
  }
  ep->port_ = port;
  httplib::Server* server = ep->server_.get();
  ep->thread_ = std::thread([server] { server->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so a Shutdown right after
  // Start would hang the join: wait for the loop first.
  while (!server->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return ep;
}

void HttpEndpoint::Shutdown() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

HttpEndpoint::~HttpEndpoint() { Shutdown(); }

}  // namespace ssd
