#include "sampler_worker/openai/http_json_client.h"

#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ssd {

absl::StatusOr<HttpEndpointUrl> HttpEndpointUrl::Parse(const std::string& url, const std::string& flag) {
  HttpEndpointUrl u;
  std::string rest;
  if (absl::StartsWith(url, "http://")) {
    rest = url.substr(7);
  } else if (absl::StartsWith(url, "https://")) {
    u.https = true;
    rest = url.substr(8);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", url, ": must start with http:// or https://"));
  }
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.base_path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
  std::string port_text;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError(absl::StrCat(flag, " ", url, ": unclosed ["));
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') port_text = authority.substr(close + 2);
  } else {
    const size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (u.host.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " ", url, ": no host"));
  u.port = u.https ? 443 : 80;
  if (!port_text.empty() && (!absl::SimpleAtoi(port_text, &u.port) || u.port <= 0 || u.port > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", url, ": \"", port_text, "\" is not a port"));
  }
  return u;
}

std::string HttpEndpointUrl::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat(https ? "https://" : "http://", v6 ? "[" : "", host, v6 ? "]" : "", ":", port, base_path);
}

JsonHttpClient::JsonHttpClient(const JsonHttpClientOptions& options) : options_(options) {
  const HttpEndpointUrl& u = options_.url;
  const std::string scheme_host_port = absl::StrCat(u.https ? "https://" : "http://",
                                                    u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host,
                                                    ":", u.port);
  client_ = std::make_unique<httplib::Client>(scheme_host_port);
  if (u.https) {
    if (!options_.ca_file.empty()) client_->set_ca_cert_path(options_.ca_file.c_str());
    client_->enable_server_certificate_verification(true);
  }
  client_->set_keep_alive(true);
  client_->set_connection_timeout(options_.connect_timeout_s, 0);
  client_->set_read_timeout(options_.read_timeout_s, 0);
  client_->set_write_timeout(60, 0);
  if (!options_.token.empty()) client_->set_bearer_token_auth(options_.token.c_str());
}

JsonHttpClient::~JsonHttpClient() = default;

absl::StatusOr<HttpReply> JsonHttpClient::Call(bool post, const std::string& full_path, const std::string& body) {
  httplib::Result r = post ? client_->Post(full_path.c_str(), body, "application/json") : client_->Get(full_path.c_str());
  if (!r) {
    HttpEndpointUrl root = options_.url;
    root.base_path.clear();
    return absl::UnavailableError(
        absl::StrCat(post ? "POST " : "GET ", root.ToString(), full_path, ": ", httplib::to_string(r.error())));
  }
  return HttpReply{r->status, r->body};
}

absl::StatusOr<HttpReply> JsonHttpClient::Post(const std::string& path, const std::string& json_body) {
  return Call(true, options_.url.base_path + path, json_body);
}
absl::StatusOr<HttpReply> JsonHttpClient::Get(const std::string& path) {
  return Call(false, options_.url.base_path + path, "");
}
absl::StatusOr<HttpReply> JsonHttpClient::PostRoot(const std::string& root_path, const std::string& json_body) {
  return Call(true, root_path, json_body);
}

void JsonHttpClient::Stop() { client_->stop(); }

}  // namespace ssd
