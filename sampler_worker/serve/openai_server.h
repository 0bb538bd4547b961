// OpenAiServer: the OpenAI HTTP API over a ServingEngine, on cpp-httplib
// (plain HTTP or HTTPS).
//
//   POST /v1/completions, /v1/chat/completions   (openai_protocol.h; SSE with stream: true)
//   GET  /v1/models                               the served model ({id, root: the folder, max_model_len})
//   POST /update_weights_from_disk                {"model_path": DIR}: serve another version (SGLang's API)
//   GET  /health                                  200 while serving (no token needed)
//   GET  /metrics                                 Prometheus text (no token needed)
//
// With a token, every /v1/ route and the reload route need
// `Authorization: Bearer TOKEN` (401 otherwise), as vLLM's --api-key does.
// Errors are OpenAI error objects: 400 (a field, named), 401, 404 (an
// unknown model or route), 413 (a body over max_body_bytes), 429 (the
// engine holds max_pending requests), 503 (shutting down); a 500 means a
// bug, never bad input.
//
// A streamed request whose client goes away is cancelled at its next
// write: its sequences are freed and the server goes on. Streams are sent
// in steps of stream_interval_ms (every token, merged, in order).
#ifndef SSD_SAMPLER_WORKER_SERVE_OPENAI_SERVER_H_
#define SSD_SAMPLER_WORKER_SERVE_OPENAI_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/metrics/metrics_registry.h"
#include "common/rpc/security.h"
#include "sampler_worker/serve/serving_engine.h"

namespace httplib {
class Server;
}

namespace ssd {

struct OpenAiServerOptions {
  std::string listen = "127.0.0.1:8000";  // host:port; port 0 picks one (see port())
  std::string served_model_name;          // required: the name requests must give as "model"
  // TLS from cert_file/key_file (client certificates against ca_file when
  // require_client_cert), the bearer token; `insecure` serves plain HTTP,
  // and then only on a loopback address.
  SecurityOptions security;
  int64_t max_body_bytes = 32 << 20;
  // A stream's events go out at most this often: whatever its choices
  // gained meanwhile travels in one event per choice. The first event goes
  // at once. Fewer, larger writes leave the cores to the engine: at 32
  // streams on 2 cores, per-token writes cost a third of the throughput.
  int64_t stream_interval_ms = 40;
  int http_threads = 0;  // 0: max_pending + 16, so every admitted request has a thread

  absl::Status Validate() const;
};

class OpenAiServer {
 public:
  // Binds and starts serving. `engine` must outlive the server.
  static absl::StatusOr<std::unique_ptr<OpenAiServer>> Start(const OpenAiServerOptions& options,
                                                             ServingEngine* engine, int64_t max_pending);
  ~OpenAiServer();
  // Stops accepting and joins the server thread; idempotent.
  void Shutdown();
  int port() const { return port_; }

 private:
  class Handlers;
  OpenAiServer() = default;

  std::unique_ptr<Handlers> handlers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_SERVE_OPENAI_SERVER_H_
