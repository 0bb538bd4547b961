#include "sampler_worker/openai_backend.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "common/chat/training_conversation.h"
#include "common/sampling/philox.h"
#include "common/sampling/prompt_model.h"
#include "common/util/ports.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"
#include "sampler_worker/managed_server.h"
#include "sampler_worker/openai/http_json_client.h"
#include "sampler_worker/problem_prompt.h"

namespace ssd {

using Json = nlohmann::json;

absl::Status OpenAiBackendOptions::Validate() const {
  if (url.empty() && command.empty()) {
    return absl::InvalidArgumentError("--backend openai needs --backend-url (or --backend-command to run the server)");
  }
  if (!url.empty()) {
    const std::string probe = absl::StrReplaceAll(url, {{"{port}", "1"}});
    RETURN_IF_ERROR(HttpEndpointUrl::Parse(probe, "--backend-url").status());
    if (url.find("{port}") != std::string::npos && command.empty()) {
      return absl::InvalidArgumentError("--backend-url: {port} is only filled in with --backend-command");
    }
  }
  if (!command.empty()) {
    RETURN_IF_ERROR(ExpandServerCommand(command, "/m", 1).status());
    if (!reload_url.empty()) {
      return absl::InvalidArgumentError("--backend-command and --backend-reload-url: give one (a managed server is "
                                        "restarted on each version)");
    }
  }
  if (!reload_url.empty()) RETURN_IF_ERROR(HttpEndpointUrl::Parse(reload_url, "--backend-reload-url").status());
  if (max_concurrency < 1 || max_concurrency > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("--backend-max-concurrency = ", max_concurrency, ": must be in [1, 4096]"));
  }
  if (!(retry_window_s >= 0)) return absl::InvalidArgumentError("--backend-retry-window-s: must be >= 0");
  if (port < 0 || port > 65535) return absl::InvalidArgumentError("--backend-port: not a TCP port");
  return absl::OkStatus();
}

namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// The server's error message from an error body, or the body itself.
std::string ErrorMessage(const HttpReply& r) {
  const Json j = Json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const Json& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  return r.body.substr(0, 300);
}

bool Retryable(const absl::StatusOr<HttpReply>& r) {
  return !r.ok() || r->status >= 500 || r->status == 429;
}

// One sample to ask for.
struct Item {
  const BackendRequest* request = nullptr;
  int64_t sample_index = 0;
  std::string body;
};

}  // namespace

class OpenAiBackend : public GenerationBackend {
 public:
  explicit OpenAiBackend(const OpenAiBackendOptions& options) : options_(options) {
    if (options_.command.empty()) SetUrl(0).IgnoreError();  // validated by OpenAiBackendOptions::Validate
    if (!options_.command.empty()) {
      server_ = std::make_unique<ManagedServer>(
          options_.command, options_.log_path.empty() ? "backend-server.log" : options_.log_path);
    }
  }

  absl::Status Use(const v1::WeightsRef& ref, const std::string& dir) override {
    if (prompt_ != nullptr && ref.job_id() == job_ && ref.version() == version_) {
      std::string why;
      if (server_ == nullptr || server_->Alive(&why)) return absl::OkStatus();
      LOG(WARNING) << why << "; starting it again";
    }
    ASSIGN_OR_RETURN(PromptModel pm, LoadPromptModel(dir));
    std::string served;
    if (server_ != nullptr) {
      ASSIGN_OR_RETURN(served, StartManaged(dir));
    } else if (!options_.reload_url.empty()) {
      ASSIGN_OR_RETURN(served, Reload(dir));
    } else {
      if (ref.version() > 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the backend server at ", options_.url, " cannot take weights version ", ref.version(), " of ",
            ref.job_id(), ": give --backend-command (the sampler restarts the server on each version) or "
            "--backend-reload-url"));
      }
      ASSIGN_OR_RETURN(served, ServedModel(/*want_root=*/""));
    }
    prompt_ = std::make_unique<PromptModel>(std::move(pm));
    job_ = ref.job_id();
    version_ = ref.version();
    model_name_ = served;
    {
      absl::MutexLock lock(&mu_);
      version_by_name_[served] = {job_, version_};
      stats_.weights_job = job_;
      stats_.weights_version = version_;
      down_.clear();
    }
    LOG(INFO) << "backend " << url_.ToString() << " serves " << job_ << " v" << version_ << " as \"" << served << "\"";
    return absl::OkStatus();
  }

  absl::Status Generate(const std::vector<BackendRequest>& requests, bool enable_thinking,
                        const std::function<void(BackendSample)>& on_sample, const std::atomic<bool>* cancel) override {
    if (prompt_ == nullptr) return absl::FailedPreconditionError("no model loaded");
    std::vector<Item> items;
    for (const BackendRequest& r : requests) {
      ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                       ProblemPromptIds(*r.problem, prompt_->chat.get(), *prompt_->tokenizer, enable_thinking));
      const int64_t max_tokens = r.problem->max_tokens() > 0 ? r.problem->max_tokens() : r.settings.max_tokens;
      Json body = {{"model", model_name_},
                   {"prompt", ids},
                   {"n", 1},
                   {"max_tokens", max_tokens},
                   {"temperature", r.settings.temperature},
                   {"top_p", r.settings.top_p},
                   {"top_k", r.settings.top_k > 0 ? r.settings.top_k : -1},
                   {"min_p", r.settings.min_p},
                   {"repetition_penalty", r.settings.repetition_penalty},
                   {"min_tokens", std::min(r.settings.min_tokens, max_tokens)},
                   {"stop", r.settings.stop},
                   {"stop_token_ids", prompt_->default_stop_ids}};
      const uint64_t key = PromptKey(r.problem->id());
      for (int64_t index : r.sample_indices) {
        // vLLM takes a signed 64-bit seed; the bits are the stream seed.
        body["seed"] = static_cast<int64_t>(SampleStreamSeed(r.settings.seed, key, static_cast<uint32_t>(index)));
        items.push_back(Item{&r, index, body.dump()});
      }
    }
    return Run(items, on_sample, cancel);
  }

  absl::StatusOr<TrainingSize> SizeTrainingConversation(const v1::Problem& problem, absl::string_view text,
                                                        int64_t max_seq_len, bool enable_thinking) override {
    if (prompt_ == nullptr) return absl::FailedPreconditionError("no model loaded");
    if (prompt_->chat == nullptr) return absl::UnimplementedError("the model folder has no chat template");
    ConversationOptions o;
    o.max_seq_len = max_seq_len;
    o.chat.extra["enable_thinking"] = enable_thinking;
    ASSIGN_OR_RETURN(ExampleSize size, ::ssd::SizeTrainingConversation(problem.messages_json(), problem.raw_prompt(),
                                                                       text, *prompt_->chat, *prompt_->tokenizer, o));
    return TrainingSize{size.tokens, size.loss_tokens};
  }

  BackendStats stats() const override {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

  absl::Status Health() override {
    std::string down;
    {
      absl::MutexLock lock(&mu_);
      down = down_;
    }
    std::string why;
    if (server_ != nullptr && prompt_ != nullptr && !server_->Alive(&why)) {
      down = why;
      if (Now() - last_restart_ > 10) {
        last_restart_ = Now();
        LOG(WARNING) << why << "; starting it again";
        if (StartManaged(server_->model_dir().empty() ? prompt_->dir : server_->model_dir()).ok()) down.clear();
      }
    } else if (!down.empty() && Now() - last_probe_ > 1) {
      last_probe_ = Now();
      JsonHttpClient c(ClientOptions(5));
      absl::StatusOr<HttpReply> r = c.Get("/models");
      if (r.ok() && r->status == 200) down.clear();
    }
    absl::MutexLock lock(&mu_);
    down_ = down;
    if (down.empty()) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat("the backend server ", url_.ToString(), " is down: ", down));
  }

 private:
  JsonHttpClientOptions ClientOptions(int read_timeout_s) const {
    JsonHttpClientOptions o;
    o.url = url_;
    o.token = options_.token;
    o.ca_file = options_.ca_file;
    o.read_timeout_s = read_timeout_s;
    return o;
  }

  absl::Status SetUrl(int port) {
    std::string url = options_.url.empty() ? "http://127.0.0.1:{port}/v1" : options_.url;
    url = absl::StrReplaceAll(url, {{"{port}", std::to_string(port)}});
    ASSIGN_OR_RETURN(url_, HttpEndpointUrl::Parse(url, "--backend-url"));
    return absl::OkStatus();
  }

  // (Re)starts the managed server on `dir` and waits until it serves it.
  absl::StatusOr<std::string> StartManaged(const std::string& dir) {
    int port = options_.port;
    if (port == 0) {
      ASSIGN_OR_RETURN(port, PickFreePort());
    }
    RETURN_IF_ERROR(SetUrl(port));
    RETURN_IF_ERROR(server_->Start(dir, port));
    const std::string want = options_.model.empty() ? dir : options_.model;
    const double deadline = Now() + options_.start_timeout_s;
    std::string last = "no answer yet";
    while (Now() < deadline) {
      std::string why;
      if (!server_->Alive(&why)) return absl::UnavailableError(why);
      JsonHttpClient c(ClientOptions(10));
      absl::StatusOr<HttpReply> r = c.Get("/models");
      if (r.ok() && r->status == 200) {
        const Json j = Json::parse(r->body, nullptr, false);
        if (j.is_object() && j.contains("data") && j["data"].is_array()) {
          for (const Json& m : j["data"]) {
            if (m.is_object() && m.value("id", "") == want) return want;
          }
          last = absl::StrCat("/v1/models does not list \"", want, "\": ", r->body.substr(0, 300));
        }
      } else {
        last = r.ok() ? absl::StrCat("HTTP ", r->status) : std::string(r.status().message());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    server_->Stop();
    return absl::DeadlineExceededError(absl::StrCat("the backend server on ", dir, " was not ready within ",
                                                    options_.start_timeout_s, " s: ", last));
  }

  // The served model name (options_.model, or the first listed), retrying
  // within the window; with `want_root`, the server must report that root.
  absl::StatusOr<std::string> ServedModel(const std::string& want_root) {
    JsonHttpClient c(ClientOptions(30));
    const double start = Now();
    while (true) {
      absl::StatusOr<HttpReply> r = c.Get("/models");
      if (r.ok() && r->status == 200) {
        const Json j = Json::parse(r->body, nullptr, false);
        if (!j.is_object() || !j.contains("data") || !j["data"].is_array() || j["data"].empty()) {
          return absl::FailedPreconditionError(
              absl::StrCat(url_.ToString(), "/models lists no model: ", r->body.substr(0, 300)));
        }
        for (const Json& m : j["data"]) {
          const std::string id = m.value("id", "");
          if (!options_.model.empty() && id != options_.model) continue;
          if (!want_root.empty() && m.contains("root") && m["root"].is_string() && m["root"] != want_root) {
            return absl::FailedPreconditionError(absl::StrCat("after the reload ", url_.ToString(),
                                                              " serves \"", m["root"].get<std::string>(),
                                                              "\", not ", want_root));
          }
          return id;
        }
        return absl::FailedPreconditionError(absl::StrCat(url_.ToString(), " does not serve --backend-model \"",
                                                          options_.model, "\": ", r->body.substr(0, 300)));
      }
      if (!Retryable(r)) {
        return absl::FailedPreconditionError(absl::StrCat(url_.ToString(), "/models: HTTP ", r->status, ": ",
                                                          ErrorMessage(*r)));
      }
      if (Now() - start > options_.retry_window_s) {
        const std::string why = r.ok() ? absl::StrCat("HTTP ", r->status) : std::string(r.status().message());
        MarkDown(why);
        return absl::UnavailableError(absl::StrCat("the backend server ", url_.ToString(), " did not answer for ",
                                                   options_.retry_window_s, " s: ", why));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }

  absl::StatusOr<std::string> Reload(const std::string& dir) {
    ASSIGN_OR_RETURN(HttpEndpointUrl reload, HttpEndpointUrl::Parse(options_.reload_url, "--backend-reload-url"));
    JsonHttpClientOptions o = ClientOptions(static_cast<int>(options_.start_timeout_s));
    o.url = reload;
    JsonHttpClient c(o);
    const std::string path = reload.base_path.empty() ? "/" : reload.base_path;
    absl::StatusOr<HttpReply> r = c.PostRoot(path, Json{{"model_path", dir}}.dump());
    if (!r.ok()) return r.status();
    if (r->status / 100 != 2) {
      return absl::FailedPreconditionError(absl::StrCat("reloading ", dir, " through ", options_.reload_url,
                                                        ": HTTP ", r->status, ": ", ErrorMessage(*r)));
    }
    return ServedModel(dir);
  }

  void MarkDown(const std::string& why) {
    absl::MutexLock lock(&mu_);
    down_ = why;
  }

  // One request with retries. OK with the response, or the reason.
  absl::StatusOr<Json> Ask(JsonHttpClient& c, const Item& item, const std::atomic<bool>& abort) {
    const double first = Now();
    double backoff = 0.25;
    while (true) {
      const double t0 = Now();
      absl::StatusOr<HttpReply> r = c.Post("/completions", item.body);
      if (abort.load()) return absl::CancelledError("aborted");
      if (r.ok() && r->status == 200) {
        const Json j = Json::parse(r->body, nullptr, false);
        absl::MutexLock lock(&mu_);
        ++stats_.backend_requests;
        stats_.backend_request_seconds += Now() - t0;
        if (j.is_discarded()) return absl::InternalError("the backend's response is not JSON");
        return j;
      }
      {
        absl::MutexLock lock(&mu_);
        ++stats_.backend_errors;
      }
      const std::string what = absl::StrCat("problem \"", item.request->problem->id(), "\" sample ", item.sample_index,
                                            ": ");
      if (!Retryable(r)) {
        return absl::InvalidArgumentError(absl::StrCat(what, "the backend refused the request: HTTP ", r->status,
                                                       ": ", ErrorMessage(*r)));
      }
      const std::string why =
          r.ok() ? absl::StrCat("HTTP ", r->status, ": ", ErrorMessage(*r)) : std::string(r.status().message());
      if (Now() - first + backoff > options_.retry_window_s) {
        MarkDown(why);
        return absl::UnavailableError(absl::StrCat(what, "the backend server ", url_.ToString(), " failed for ",
                                                   static_cast<int>(Now() - first), " s (--backend-retry-window-s ",
                                                   options_.retry_window_s, "): ", why));
      }
      VLOG(1) << what << why << "; retrying in " << backoff << " s";
      for (double slept = 0; slept < backoff && !abort.load(); slept += 0.05) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (abort.load()) return absl::CancelledError("aborted");
      backoff = std::min(backoff * 2, 5.0);
    }
  }

  absl::StatusOr<BackendSample> ToSample(const Item& item, const Json& j) {
    const std::string where =
        absl::StrCat("problem \"", item.request->problem->id(), "\" sample ", item.sample_index, ": the backend's ");
    if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array() || j["choices"].size() != 1) {
      return absl::InternalError(absl::StrCat(where, "response has no single choice: ", j.dump().substr(0, 300)));
    }
    const Json& c = j["choices"][0];
    if (!c.contains("text") || !c["text"].is_string()) {
      return absl::InternalError(absl::StrCat(where, "choice has no text"));
    }
    const std::string reason = c.value("finish_reason", "");
    if (reason != "stop" && reason != "length") {
      return absl::InternalError(absl::StrCat(where, "choice finished with \"", reason, "\", not stop or length"));
    }
    const std::string model = j.value("model", "");
    BackendSample b;
    {
      absl::MutexLock lock(&mu_);
      auto it = version_by_name_.find(model);
      if (it == version_by_name_.end() || it->second.first != job_) {
        return absl::FailedPreconditionError(absl::StrCat(where, "response names the model \"", model,
                                                          "\", which is no weights version of ", job_,
                                                          " this sampler loaded"));
      }
      b.weights_version = it->second.second;
    }
    b.problem_id = item.request->problem->id();
    b.sample_index = item.sample_index;
    b.text = c["text"].get<std::string>();
    b.finish_reason = reason == "length" ? v1::FINISH_REASON_LENGTH : v1::FINISH_REASON_STOP;
    if (j.contains("usage") && j["usage"].is_object() && j["usage"].contains("completion_tokens")) {
      b.num_tokens = j["usage"]["completion_tokens"].get<int64_t>();
    }
    return b;
  }

  // Asks for every item with up to max_concurrency threads; samples reach
  // `on_sample` on this thread as they arrive.
  absl::Status Run(const std::vector<Item>& items, const std::function<void(BackendSample)>& on_sample,
                   const std::atomic<bool>* cancel) {
    if (items.empty()) return absl::OkStatus();
    const int threads = std::min<int>(options_.max_concurrency, static_cast<int>(items.size()));
    std::atomic<size_t> next{0};
    std::atomic<bool> abort{false};
    absl::Mutex mu;
    std::deque<absl::StatusOr<BackendSample>> results;
    std::vector<std::unique_ptr<JsonHttpClient>> clients;
    for (int t = 0; t < threads; ++t) {
      clients.push_back(std::make_unique<JsonHttpClient>(ClientOptions(options_.request_timeout_s)));
    }
    {
      absl::MutexLock lock(&mu_);
      stats_.running = threads;
      stats_.waiting = static_cast<int64_t>(items.size());
    }
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        while (!abort.load()) {
          const size_t i = next.fetch_add(1);
          if (i >= items.size()) return;
          absl::StatusOr<Json> j = Ask(*clients[t], items[i], abort);
          absl::StatusOr<BackendSample> s = j.ok() ? ToSample(items[i], *j) : j.status();
          absl::MutexLock lock(&mu);
          results.push_back(std::move(s));
        }
      });
    }
    absl::Status status;
    size_t done = 0;
    while (done < items.size() && status.ok()) {
      std::deque<absl::StatusOr<BackendSample>> batch;
      {
        absl::MutexLock lock(&mu);
        auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return !results.empty(); };
        mu.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(100));
        batch.swap(results);
      }
      for (auto& s : batch) {
        ++done;
        if (!s.ok()) {
          if (status.ok() && s.status().code() != absl::StatusCode::kCancelled) status = s.status();
          continue;
        }
        {
          absl::MutexLock lock(&mu_);
          stats_.generated_tokens += s->num_tokens;
          ++stats_.samples_finished;
          stats_.waiting = static_cast<int64_t>(items.size() - done);
        }
        on_sample(std::move(*s));
      }
      if (status.ok() && cancel != nullptr && cancel->load()) status = absl::CancelledError("generation cancelled");
    }
    if (!status.ok()) {
      abort.store(true);
      for (auto& c : clients) c->Stop();
    }
    for (auto& t : pool) t.join();
    {
      absl::MutexLock lock(&mu_);
      stats_.running = 0;
      stats_.waiting = 0;
    }
    return status;
  }

  const OpenAiBackendOptions options_;
  std::unique_ptr<ManagedServer> server_;
  HttpEndpointUrl url_;
  std::unique_ptr<PromptModel> prompt_;
  std::string job_;
  int64_t version_ = -1;
  std::string model_name_;
  double last_probe_ = 0;
  double last_restart_ = 0;

  mutable absl::Mutex mu_;
  std::map<std::string, std::pair<std::string, int64_t>> version_by_name_ ABSL_GUARDED_BY(mu_);
  std::string down_ ABSL_GUARDED_BY(mu_);
  BackendStats stats_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<GenerationBackend> MakeOpenAiBackend(const OpenAiBackendOptions& options) {
  return std::make_unique<OpenAiBackend>(options);
}

}  // namespace ssd
