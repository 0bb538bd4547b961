// JsonHttpClient: JSON over HTTP(S) to one server (cpp-httplib), for the
// openai backend: a base URL ("https://host:port/v1"), a bearer token, the
// CA that signed an https server, and timeouts. Keeps its connection alive
// between calls. Not thread-safe: one per thread; Stop() may be called from
// another thread to abort a call in flight.
#ifndef SSD_SAMPLER_WORKER_OPENAI_HTTP_JSON_CLIENT_H_
#define SSD_SAMPLER_WORKER_OPENAI_HTTP_JSON_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace httplib {
class Client;
}

namespace ssd {

struct HttpEndpointUrl {
  bool https = false;
  std::string host;
  int port = 0;
  std::string base_path;  // "/v1", or "" ; never ends in '/'

  // "http[s]://host[:port][/path]" (IPv6 hosts in brackets); errors name
  // the flag the URL came from.
  static absl::StatusOr<HttpEndpointUrl> Parse(const std::string& url, const std::string& flag);
  std::string ToString() const;
};

struct JsonHttpClientOptions {
  HttpEndpointUrl url;
  std::string token;    // sent as Authorization: Bearer, when set
  std::string ca_file;  // https: verify the server against this CA ("" : the system's)
  int connect_timeout_s = 5;
  int read_timeout_s = 600;  // a long generation is one response
};

struct HttpReply {
  int status = 0;
  std::string body;
};

class JsonHttpClient {
 public:
  explicit JsonHttpClient(const JsonHttpClientOptions& options);
  ~JsonHttpClient();
  // `path` is below the base path ("/completions"); `root_path` calls a
  // path from the server's root ("/update_weights_from_disk"). A transport failure (refused,
  // reset, timed out) is UNAVAILABLE naming the URL; any HTTP status comes
  // back as a reply.
  absl::StatusOr<HttpReply> Post(const std::string& path, const std::string& json_body);
  absl::StatusOr<HttpReply> Get(const std::string& path);
  absl::StatusOr<HttpReply> PostRoot(const std::string& root_path, const std::string& json_body);
  // Aborts a call in flight (from any thread); the client reconnects on the
  // next call.
  void Stop();
  const JsonHttpClientOptions& options() const { return options_; }

 private:
  absl::StatusOr<HttpReply> Call(bool post, const std::string& full_path, const std::string& body);

  const JsonHttpClientOptions options_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_OPENAI_HTTP_JSON_CLIENT_H_
