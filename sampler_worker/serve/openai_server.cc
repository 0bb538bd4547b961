#include "sampler_worker/serve/openai_server.h"

#include <glog/logging.h>
#include <httplib.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/util/sha256.h"
#include "sampler_worker/openai/openai_protocol.h"

namespace ssd {

using openai::ApiError;
using openai::ChoiceResult;
using openai::CompletionRequest;
using openai::Endpoint;
using Json = nlohmann::ordered_json;

absl::Status OpenAiServerOptions::Validate() const {
  if (served_model_name.empty()) return absl::InvalidArgumentError("--served-model-name: must not be empty");
  if (listen.rfind(':') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: \"", listen, "\" is not host:port"));
  }
  if (stream_interval_ms < 0 || stream_interval_ms > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--stream-interval-ms = ", stream_interval_ms, ": must be in [0, 10000]"));
  }
  if (max_body_bytes < 1024) {
    return absl::InvalidArgumentError(absl::StrCat("--max-body-bytes = ", max_body_bytes, ": must be >= 1024"));
  }
  if (security.insecure) {
    if (!IsLoopbackAddress(listen)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen ", listen, ": plain HTTP (--insecure) only on a loopback address; give --tls-cert/--tls-key"));
    }
  } else if (security.cert_file.empty() || security.key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key (or --certs DIR) are required without --insecure");
  }
  return absl::OkStatus();
}

namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string RandomHex(int bytes) {
  static thread_local std::mt19937_64 gen(std::random_device{}());
  std::string raw;
  for (int i = 0; i < bytes; ++i) raw += static_cast<char>(gen() & 0xff);
  return HexEncode(raw);
}

bool TokenMatches(const std::string& want, const std::string& header) {
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(header, kBearer)) return false;
  return ConstantTimeEquals(absl::string_view(header).substr(kBearer.size()), want);
}

void SendError(httplib::Response& res, const ApiError& e) {
  res.status = e.http_status;
  res.set_content(openai::ErrorJson(e), "application/json");
}

ApiError MakeError(int status, const std::string& type, const std::string& code, const std::string& message,
                   const std::string& param = "") {
  ApiError e;
  e.http_status = status;
  e.type = type;
  e.code = code;
  e.message = message;
  e.param = param;
  return e;
}

// The field an engine message names ("top_k = ..."), else `fallback`.
std::string ParamOf(absl::string_view message, const std::string& fallback) {
  for (const char* f : {"stop_token_ids", "max_tokens", "min_tokens", "temperature", "top_p", "top_k", "min_p",
                        "repetition_penalty", "logprobs", "stop", "n"}) {
    if (absl::StartsWith(message, absl::StrCat(f, " ")) || absl::StartsWith(message, absl::StrCat(f, ":"))) return f;
  }
  return fallback;
}

ApiError FromStatus(const absl::Status& s, const std::string& fallback_param) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return openai::BadRequest(ParamOf(s.message(), fallback_param), std::string(s.message()));
    case absl::StatusCode::kResourceExhausted:
      return MakeError(429, "rate_limit_error", "rate_limit_exceeded", std::string(s.message()));
    case absl::StatusCode::kUnavailable:
      return MakeError(503, "server_error", "unavailable", std::string(s.message()));
    default:
      return MakeError(500, "server_error", "internal_error", std::string(s.message()));
  }
}

}  // namespace

class OpenAiServer::Handlers {
 public:
  Handlers(const OpenAiServerOptions& options, ServingEngine* engine) : options_(options), engine_(engine) {
    requests_ = &registry_.AddCounter("ssd_serve_requests_total", "HTTP requests by route and status",
                                      {"route", "status"});
    ttft_ = &registry_
                 .AddHistogram("ssd_serve_time_to_first_token_seconds",
                               "request received to its first generated text or token", {}, LatencyBucketsSeconds())
                 .WithLabels({});
    latency_ = &registry_
                    .AddHistogram("ssd_serve_request_seconds", "completion requests, received to last byte", {},
                                  LatencyBucketsSeconds())
                    .WithLabels({});
    auto counter = [&](const char* name, const char* help) -> Counter& {
      return registry_.AddCounter(name, help).WithLabels({});
    };
    auto gauge = [&](const char* name, const char* help) -> Gauge& {
      return registry_.AddGauge(name, help).WithLabels({});
    };
    Counter& generated = counter("ssd_serve_generated_tokens_total", "tokens generated");
    Counter& prompt = counter("ssd_serve_prompt_tokens_total", "prompt tokens of accepted requests");
    Counter& cancelled = counter("ssd_serve_requests_cancelled_total", "requests whose client went away");
    Counter& refused = counter("ssd_serve_requests_refused_total", "requests refused with 429 (engine full)");
    Gauge& running = gauge("ssd_serve_running_requests", "requests in the engine");
    Gauge& seqs = gauge("ssd_serve_running_sequences", "sequences decoded in the last step");
    Gauge& waiting = gauge("ssd_serve_waiting_samples", "samples waiting for a sequence slot");
    Gauge& kv_total = gauge("ssd_serve_kv_blocks_total", "KV-cache blocks in the pool");
    Gauge& kv_peak = gauge("ssd_serve_kv_blocks_peak", "most KV-cache blocks used at once");
    Gauge& version = gauge("ssd_serve_weights_version", "weights version served (0 at start, +1 per reload)");
    registry_.AddCollector([=, &generated, &prompt, &cancelled, &refused, &running, &seqs, &waiting, &kv_total,
                            &kv_peak, &version] {
      const ServingStats s = engine_->stats();
      generated.AdvanceTo(static_cast<uint64_t>(s.generated_tokens));
      prompt.AdvanceTo(static_cast<uint64_t>(s.prompt_tokens));
      cancelled.AdvanceTo(static_cast<uint64_t>(s.requests_cancelled));
      refused.AdvanceTo(static_cast<uint64_t>(s.requests_refused_full));
      running.Set(static_cast<double>(s.requests_running));
      seqs.Set(static_cast<double>(s.running_sequences));
      waiting.Set(static_cast<double>(s.waiting_samples));
      kv_total.Set(static_cast<double>(s.kv_blocks_total));
      kv_peak.Set(static_cast<double>(s.kv_blocks_peak));
      version.Set(static_cast<double>(s.weights_version));
    });
  }

  void Install(httplib::Server& s) {
    s.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) {
      Complete(Endpoint::kCompletions, q, r);
    });
    s.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) {
      Complete(Endpoint::kChatCompletions, q, r);
    });
    s.Get("/v1/models", [this](const httplib::Request& q, httplib::Response& r) { Models(q, r); });
    s.Post("/update_weights_from_disk", [this](const httplib::Request& q, httplib::Response& r) { Reload(q, r); });
    s.Get("/health", [this](const httplib::Request&, httplib::Response& r) {
      r.set_content("{}", "application/json");
      Count("/health", 200);
    });
    s.Get("/metrics", [this](const httplib::Request&, httplib::Response& r) {
      r.set_content(registry_.Render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    // Whatever else (an unknown route, a body over the limit) still gets an
    // OpenAI error object.
    s.set_error_handler([this](const httplib::Request& q, httplib::Response& r) {
      if (!r.body.empty()) return;
      if (r.status == 413) {
        SendError(r, MakeError(413, "invalid_request_error", "request_too_large",
                               absl::StrCat("the request body is over ", options_.max_body_bytes, " bytes")));
      } else if (r.status == 404) {
        SendError(r, MakeError(404, "invalid_request_error", "not_found",
                               absl::StrCat("no route ", q.method, " ", q.path)));
      } else {
        SendError(r, MakeError(r.status, "invalid_request_error", "", absl::StrCat("HTTP ", r.status)));
      }
      Count(q.path, r.status);
    });
    s.set_exception_handler([this](const httplib::Request& q, httplib::Response& r, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      LOG(ERROR) << q.method << " " << q.path << ": " << what;
      SendError(r, MakeError(500, "server_error", "internal_error", what));
      Count(q.path, 500);
    });
  }

 private:
  bool Authorized(const httplib::Request& q, httplib::Response& r) {
    if (options_.security.token.empty()) return true;
    if (TokenMatches(options_.security.token, q.get_header_value("Authorization"))) return true;
    SendError(r, MakeError(401, "invalid_request_error", "invalid_api_key",
                           q.has_header("Authorization") ? "the bearer token is wrong"
                                                         : "missing Authorization: Bearer <token>"));
    Count(q.path, 401);
    return false;
  }

  void Count(const std::string& route, int status) {
    const bool known = route == "/v1/completions" || route == "/v1/chat/completions" || route == "/v1/models" ||
                       route == "/health" || route == "/update_weights_from_disk";
    requests_->WithLabels({known ? route : "other", std::to_string(status)}).Increment();
  }

  void Models(const httplib::Request& q, httplib::Response& r) {
    if (!Authorized(q, r)) return;
    Json card{{"id", options_.served_model_name}, {"object", "model"},       {"created", UnixSeconds()},
              {"owned_by", "ssd"},               {"root", engine_->model_dir()}, {"parent", nullptr},
              {"max_model_len", engine_->context_length()}};
    r.set_content(openai::DumpJson(Json{{"object", "list"}, {"data", Json::array({card})}}), "application/json");
    Count(q.path, 200);
  }

  void Reload(const httplib::Request& q, httplib::Response& r) {
    if (!Authorized(q, r)) return;
    const Json body = Json::parse(q.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("model_path") || !body["model_path"].is_string()) {
      SendError(r, openai::BadRequest("model_path", "the body must be {\"model_path\": \"DIR\"}"));
      Count(q.path, 400);
      return;
    }
    const absl::Status s = engine_->Reload(body["model_path"].get<std::string>());
    if (!s.ok()) {
      SendError(r, FromStatus(s, "model_path"));
      Count(q.path, r.status);
      return;
    }
    r.set_content(openai::DumpJson(Json{{"success", true},
                                        {"message", absl::StrCat("serving ", engine_->model_dir(), " as version ",
                                                                 engine_->weights_version())}}),
                  "application/json");
    Count(q.path, 200);
  }

  void Complete(Endpoint endpoint, const httplib::Request& q, httplib::Response& r) {
    const double t0 = Now();
    if (!Authorized(q, r)) return;
    ApiError err;
    std::optional<CompletionRequest> req = openai::ParseCompletionRequest(endpoint, q.body, &err);
    auto fail = [&](const ApiError& e) {
      SendError(r, e);
      Count(q.path, e.http_status);
    };
    if (!req.has_value()) return fail(err);
    if (req->model != options_.served_model_name) {
      return fail(MakeError(404, "invalid_request_error", "model_not_found",
                            absl::StrCat("The model `", req->model, "` does not exist; this server serves `",
                                         options_.served_model_name, "`"),
                            "model"));
    }
    const bool chat = endpoint == Endpoint::kChatCompletions;
    const std::string prompt_param = chat ? "messages" : "prompt";
    std::vector<std::vector<int64_t>> prompts;
    if (chat) {
      absl::StatusOr<std::vector<int64_t>> ids =
          engine_->RenderChat(req->messages, req->add_generation_prompt, req->chat_template_kwargs);
      if (!ids.ok()) return fail(FromStatus(ids.status(), "messages"));
      prompts.push_back(std::move(*ids));
    } else {
      for (const openai::Prompt& p : req->prompts) {
        if (p.is_ids) {
          prompts.push_back(p.ids);
          continue;
        }
        absl::StatusOr<std::vector<int64_t>> ids = engine_->EncodeText(p.text);
        if (!ids.ok()) return fail(FromStatus(ids.status(), "prompt"));
        prompts.push_back(std::move(*ids));
      }
    }
    int64_t longest = 0;
    for (const auto& p : prompts) longest = std::max<int64_t>(longest, static_cast<int64_t>(p.size()));
    SamplingParams params;
    params.n = req->n;
    params.temperature = req->temperature;
    params.top_p = req->top_p;
    params.top_k = req->top_k;
    params.min_p = req->min_p;
    params.repetition_penalty = req->repetition_penalty;
    // Unset: OpenAI's 16 for completions, the rest of the context for chat
    // (vLLM's); the engine ends a choice at the context either way.
    params.max_tokens = req->max_tokens.value_or(chat ? std::max<int64_t>(1, engine_->context_length() - longest) : 16);
    params.min_tokens = std::min(req->min_tokens, params.max_tokens);
    params.stop = req->stop;
    params.stop_token_ids = req->stop_token_ids;
    params.ignore_eos = req->ignore_eos;
    params.logprobs = req->logprobs;
    const uint64_t seed = req->seed.has_value() ? *req->seed : std::mt19937_64(std::random_device{}())();
    absl::StatusOr<std::shared_ptr<ServedRequest>> served = engine_->Submit(prompts, params, seed);
    if (!served.ok()) return fail(FromStatus(served.status(), prompt_param));

    openai::ResponseHeader h;
    h.endpoint = endpoint;
    h.id = absl::StrCat(chat ? "chatcmpl-" : "cmpl-", RandomHex(12));
    h.created = UnixSeconds();
    h.model = options_.served_model_name;
    h.logprobs = req->logprobs >= 0;
    h.return_token_ids = req->return_token_ids;
    h.token_text = [engine = engine_](int64_t id) { return engine->TokenText(id); };
    if (req->stream) {
      Stream(std::move(*served), std::move(h), req->include_usage, t0, q, r);
    } else {
      Whole(**served, h, t0, q, r);
    }
  }

  static void Append(ChoiceResult& c, ChoiceEvent& e) {
    c.text += e.text;
    c.token_ids.insert(c.token_ids.end(), e.token_ids.begin(), e.token_ids.end());
    for (auto& lp : e.logprobs) c.logprobs.push_back({lp.id, lp.logprob, std::move(lp.top)});
    if (e.finished) c.finish_reason = e.finish_reason;
  }

  void Whole(ServedRequest& served, const openai::ResponseHeader& h, double t0, const httplib::Request& q,
             httplib::Response& r) {
    std::vector<ChoiceResult> choices(static_cast<size_t>(served.num_choices()));
    for (size_t i = 0; i < choices.size(); ++i) choices[i].index = static_cast<int64_t>(i);
    openai::Usage usage;
    usage.prompt_tokens = served.prompt_tokens();
    bool first = true;
    std::vector<ChoiceEvent> events;
    while (true) {
      events.clear();
      const bool more = served.Next(&events, absl::Seconds(1));
      for (ChoiceEvent& e : events) {
        if (first) {
          ttft_->Observe(Now() - t0);
          first = false;
        }
        if (e.finished) usage.completion_tokens += e.num_tokens;
        Append(choices[static_cast<size_t>(e.choice)], e);
      }
      if (!more) break;
    }
    if (!served.status().ok()) {
      SendError(r, FromStatus(served.status(), ""));
      Count(q.path, r.status);
      return;
    }
    r.set_content(openai::ResponseJson(h, choices, usage), "application/json");
    latency_->Observe(Now() - t0);
    Count(q.path, 200);
  }

  void Stream(std::shared_ptr<ServedRequest> served, openai::ResponseHeader h, bool include_usage, double t0,
              const httplib::Request& q, httplib::Response& r) {
    struct State {
      std::shared_ptr<ServedRequest> served;
      openai::ResponseHeader h;
      bool include_usage = false;
      std::vector<bool> started;
      openai::Usage usage;
      bool first = true;
      bool complete = false;
      double last_write = 0;
    };
    auto st = std::make_shared<State>();
    st->served = std::move(served);
    st->h = std::move(h);
    st->include_usage = include_usage;
    st->started.assign(static_cast<size_t>(st->served->num_choices()), false);
    st->usage.prompt_tokens = st->served->prompt_tokens();
    r.set_header("Cache-Control", "no-cache");
    const std::string path = q.path;
    r.set_chunked_content_provider(
        "text/event-stream",
        [this, st, t0](size_t, httplib::DataSink& sink) {
          // Pace the writes (see OpenAiServerOptions::stream_interval_ms);
          // events merge in the request meanwhile.
          if (st->last_write > 0) {
            const double wait = st->last_write + options_.stream_interval_ms / 1e3 - Now();
            if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
          }
          std::vector<ChoiceEvent> events;
          const bool more = st->served->Next(&events, absl::Milliseconds(200));
          std::string out;
          for (ChoiceEvent& e : events) {
            if (st->first) {
              ttft_->Observe(Now() - t0);
              st->first = false;
            }
            openai::ChunkDelta d;
            d.index = e.choice;
            d.role = !st->started[static_cast<size_t>(e.choice)];
            st->started[static_cast<size_t>(e.choice)] = true;
            d.text = std::move(e.text);
            d.token_ids = std::move(e.token_ids);
            for (auto& lp : e.logprobs) d.logprobs.push_back({lp.id, lp.logprob, std::move(lp.top)});
            if (e.finished) {
              d.finish_reason = e.finish_reason;
              st->usage.completion_tokens += e.num_tokens;
            }
            out += openai::SseEvent(openai::ChunkJson(st->h, d));
          }
          if (!more) {
            if (!st->served->status().ok()) {
              out += openai::SseEvent(openai::ErrorJson(FromStatus(st->served->status(), "")));
            } else if (st->include_usage) {
              out += openai::SseEvent(openai::UsageChunkJson(st->h, st->usage));
            }
            out += std::string(openai::kSseDone);
          }
          if (!out.empty()) {
            if (!sink.write(out.data(), out.size())) return false;  // the client went away
            st->last_write = Now();
          }
          if (!more) {
            st->complete = true;
            latency_->Observe(Now() - t0);
            sink.done();
          }
          return true;
        },
        [this, st, path](bool success) {
          if (!st->complete || !success) {
            LOG(INFO) << "stream " << st->h.id << ": the client went away; cancelling it";
            engine_->Cancel(*st->served);
            Count(path, 499);
          } else {
            Count(path, 200);
          }
        });
  }

  const OpenAiServerOptions options_;
  ServingEngine* const engine_;
  MetricsRegistry registry_;
  CounterFamily* requests_ = nullptr;
  Histogram* ttft_ = nullptr;
  Histogram* latency_ = nullptr;
};

absl::StatusOr<std::unique_ptr<OpenAiServer>> OpenAiServer::Start(const OpenAiServerOptions& options,
                                                                   ServingEngine* engine, int64_t max_pending) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  const size_t colon = options.listen.rfind(':');
  std::string host = options.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  if (!absl::SimpleAtoi(options.listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: \"", options.listen, "\" has no valid port"));
  }
  std::unique_ptr<OpenAiServer> s(new OpenAiServer());
  if (options.security.insecure) {
    s->server_ = std::make_unique<httplib::Server>();
  } else {
    const SecurityOptions& sec = options.security;
    auto ssl = std::make_unique<httplib::SSLServer>(
        sec.cert_file.c_str(), sec.key_file.c_str(),
        sec.require_client_cert && !sec.ca_file.empty() ? sec.ca_file.c_str() : nullptr);
    if (!ssl->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat("--tls-cert ", sec.cert_file, " / --tls-key ", sec.key_file,
                                                     ": not a usable certificate and key"));
    }
    s->server_ = std::move(ssl);
  }
  const size_t threads =
      static_cast<size_t>(options.http_threads > 0 ? options.http_threads : std::max<int64_t>(max_pending, 1) + 16);
  s->server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s->server_->set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  s->server_->set_read_timeout(30);
  s->server_->set_write_timeout(30);
  s->server_->set_keep_alive_timeout(5);
  // Debian's cpp-httplib listens with a backlog of 5: 32 clients connecting
  // at once overflow it, and the kernel drops their SYNs for a 1 s retry
  // (a p99 time to first token of seconds). Keep the listening socket to
  // listen again with a real backlog once bound.
  auto listen_fd = std::make_shared<int>(-1);
  s->server_->set_socket_options([listen_fd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    // Accepted sockets inherit it: a streamed event goes out at once
    // instead of waiting on Nagle for the client's delayed ACK.
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    *listen_fd = sock;
  });
  s->handlers_ = std::make_unique<Handlers>(options, engine);
  s->handlers_->Install(*s->server_);
  port = port == 0 ? s->server_->bind_to_any_port(host) : (s->server_->bind_to_port(host, port) ? port : -1);
  if (port <= 0) return absl::UnavailableError(absl::StrCat("--listen: cannot listen on ", options.listen, " (in use?)"));
  s->port_ = port;
  if (*listen_fd >= 0 && ::listen(*listen_fd, 1024) != 0) PLOG(WARNING) << "listen backlog 1024";
  httplib::Server* server = s->server_.get();
  s->thread_ = std::thread([server] { server->listen_after_bind(); });
  while (!server->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return s;
}

void OpenAiServer::Shutdown() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

OpenAiServer::~OpenAiServer() { Shutdown(); }

}  // namespace ssd
