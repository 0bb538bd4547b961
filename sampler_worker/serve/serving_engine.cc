#include "sampler_worker/serve/serving_engine.h"

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <glog/logging.h>

#include <algorithm>
#include <atomic>

#include "absl/strings/str_cat.h"
#include "common/model/device.h"
#include "common/sampling/engine.h"
#include "common/sampling/generation_model.h"
#include "common/sampling/philox.h"
#include "common/util/status_macros.h"

namespace ssd {

absl::Status ServingEngineOptions::Validate() const {
  if (model_dir.empty()) return absl::InvalidArgumentError("--model: required");
  if (max_seqs < 1) return absl::InvalidArgumentError(absl::StrCat("--max-seqs = ", max_seqs, ": must be >= 1"));
  if (kv_cache_mb < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--kv-cache-mb = ", kv_cache_mb, ": must be >= 1"));
  }
  if (max_pending < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--max-pending = ", max_pending, ": must be >= 1"));
  }
  return absl::OkStatus();
}

void ServedRequest::Push(ChoiceEvent e) {
  absl::MutexLock lock(&mu_);
  if (e.finished) ++finished_;
  // Merge into the unread event of the same choice: a reader that is behind
  // gets one longer delta instead of many.
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    if (it->choice != e.choice) continue;
    if (it->finished) break;
    it->text += e.text;
    it->token_ids.insert(it->token_ids.end(), e.token_ids.begin(), e.token_ids.end());
    for (auto& lp : e.logprobs) it->logprobs.push_back(std::move(lp));
    it->finished = e.finished;
    it->finish_reason = std::move(e.finish_reason);
    it->num_tokens = e.num_tokens;
    it->weights_version = e.weights_version;
    return;
  }
  events_.push_back(std::move(e));
}

void ServedRequest::Fail(absl::Status s) {
  absl::MutexLock lock(&mu_);
  if (status_.ok()) status_ = std::move(s);
}

absl::Status ServedRequest::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

bool ServedRequest::Next(std::vector<ChoiceEvent>* out, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !events_.empty() || !status_.ok() || finished_ == num_choices_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  for (auto& e : events_) out->push_back(std::move(e));
  events_.clear();
  return status_.ok() && (finished_ < num_choices_ || !out->empty());
}

namespace {

// The bytes of `text` that may be sent now: all but `holdback`, ending on a
// UTF-8 character boundary.
size_t SafeEnd(const std::string& text, size_t holdback, size_t emitted) {
  if (text.size() <= holdback) return emitted;
  size_t end = text.size() - holdback;
  while (end > emitted && end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::max(end, emitted);
}

}  // namespace

class ServingEngineImpl : public ServingEngine {
 public:
  explicit ServingEngineImpl(const ServingEngineOptions& options) : options_(options) {}
  ~ServingEngineImpl() override { Shutdown(); }

  absl::Status Init() {
    ASSIGN_OR_RETURN(dopts_, ResolveDevice(options_.device, options_.dtype));
    try {
      ASSIGN_OR_RETURN(gm_, LoadGenerationModel(options_.model_dir, dopts_, options_.tokenizer_dir));
      RETURN_IF_ERROR(NewEngine());
    } catch (const c10::Error& e) {
      return absl::ResourceExhaustedError(absl::StrCat("loading ", options_.model_dir, ": ", e.what_without_backtrace()));
    }
    served_dir_ = gm_.dir;
    config_ = gm_.model->config();
    context_ = gm_.model->config().max_position_embeddings;
    vocab_ = gm_.model->config().vocab_size;
    driver_ = std::thread([this] { Drive(); });
    return absl::OkStatus();
  }

  void Shutdown() override {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      stop_ = true;
    }
    if (driver_.joinable()) driver_.join();
    absl::MutexLock lock(&mu_);
    for (auto& [id, live] : live_) live->request->Fail(absl::UnavailableError("the server is shutting down"));
    live_.clear();
  }

  int64_t context_length() const override { return context_; }
  int64_t vocab_size() const override { return vocab_; }
  std::string model_dir() const override {
    absl::MutexLock lock(&mu_);
    return served_dir_;
  }
  int64_t weights_version() const override {
    absl::MutexLock lock(&mu_);
    return version_;
  }

  absl::StatusOr<std::vector<int64_t>> EncodeText(const std::string& text) const override {
    EncodeOptions eo;
    eo.allow_special = true;
    ASSIGN_OR_RETURN(std::vector<int32_t> ids, gm_.tokenizer->Encode(text, eo));
    return std::vector<int64_t>(ids.begin(), ids.end());
  }

  absl::StatusOr<std::vector<int64_t>> RenderChat(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                                  const nlohmann::ordered_json& kwargs) const override {
    if (gm_.chat == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the model folder ", gm_.dir, " has no chat template (tokenizer_config.json chat_template); use "
          "/v1/completions"));
    }
    ChatOptions o;
    o.add_generation_prompt = add_generation_prompt;
    o.extra = kwargs;
    absl::StatusOr<std::string> text = gm_.chat->Render(messages, o);
    if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat("messages: ", text.status().message()));
    return EncodeText(*text);
  }

  std::string TokenText(int64_t id) const override {
    absl::StatusOr<std::string> b = gm_.tokenizer->TokenBytes(static_cast<int32_t>(id));
    return b.ok() ? *b : std::string();
  }

  absl::StatusOr<std::shared_ptr<ServedRequest>> Submit(const std::vector<std::vector<int64_t>>& prompts,
                                                        SamplingParams params, uint64_t seed) override {
    if (prompts.empty()) return absl::InvalidArgumentError("prompt: no prompt");
    if (!params.ignore_eos) {
      std::vector<int64_t> stops = gm_.default_stop_ids;
      stops.insert(stops.end(), params.stop_token_ids.begin(), params.stop_token_ids.end());
      params.stop_token_ids = std::move(stops);
    }
    const int64_t n = params.n;
    int64_t prompt_tokens = 0;
    for (const auto& p : prompts) prompt_tokens += static_cast<int64_t>(p.size());
    const std::string id = absl::StrCat("r", next_id_.fetch_add(1));
    std::shared_ptr<ServedRequest> request(
        new ServedRequest(id, n * static_cast<int64_t>(prompts.size()), prompt_tokens));
    auto live = std::make_shared<Live>();
    live->request = request;
    live->holdback = 0;
    for (const std::string& s : params.stop) live->holdback = std::max(live->holdback, s.size() - 1);
    live->emitted.resize(static_cast<size_t>(request->num_choices()));
    std::vector<GenerationRequest> engine_requests;
    for (size_t p = 0; p < prompts.size(); ++p) {
      GenerationRequest g;
      g.id = absl::StrCat(id, "/", p);
      g.prompt_ids = prompts[p];
      g.params = params;
      for (int64_t j = 0; j < n; ++j) {
        const int64_t c = static_cast<int64_t>(p) * n + j;
        g.sample_indices.push_back(j);
        g.stream_seeds.push_back(c == 0 ? seed : SampleStreamSeed(seed, kChoiceKey, static_cast<uint32_t>(c)));
      }
      const int64_t base = static_cast<int64_t>(p) * n;
      Live* raw = live.get();
      g.on_token = [raw, base](const TokenEvent& e) { raw->OnToken(base + e.sample_index, e); };
      // The engine's checks (vocabulary, context, KV budget) before any is
      // queued, so a refused request leaves nothing behind.
      RETURN_IF_ERROR(Check(g, static_cast<int64_t>(p), prompts.size() > 1));
      engine_requests.push_back(std::move(g));
    }
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return absl::UnavailableError("the server is shutting down");
      if (static_cast<int64_t>(live_.size()) >= options_.max_pending) {
        ++stats_.requests_refused_full;
        return absl::ResourceExhaustedError(absl::StrCat(
            "the server has ", live_.size(), " requests in flight (--max-pending ", options_.max_pending,
            "); retry later"));
      }
      for (auto& g : engine_requests) live->engine_ids.push_back(g.id);
      live_[id] = live;
      ++stats_.requests_total;
      stats_.prompt_tokens += prompt_tokens;
      for (auto& g : engine_requests) held_.push_back(std::move(g));
      kicked_ = true;
    }
    return request;
  }

  void Cancel(const ServedRequest& request) override {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(request.id());
    if (it == live_.end()) return;
    cancels_.push_back(it->second);
    live_.erase(it);
    ++stats_.requests_cancelled;
    kicked_ = true;
  }

  absl::Status Reload(const std::string& dir) override {
    absl::MutexLock reload_lock(&reload_mu_);  // one reload at a time
    std::shared_ptr<const Decoder> model;
    std::string resolved;
    try {
      ASSIGN_OR_RETURN(GenerationModel next, LoadGenerationModel(dir, dopts_, options_.tokenizer_dir));
      if (!next.model->config().SameArchitecture(config_)) {
        return absl::InvalidArgumentError(
            absl::StrCat(dir, ": another architecture than the served ", model_dir(), "; start a new server"));
      }
      model = next.model;
      resolved = next.dir;
    } catch (const c10::Error& e) {
      return absl::ResourceExhaustedError(absl::StrCat("loading ", dir, ": ", e.what_without_backtrace()));
    }
    absl::MutexLock lock(&mu_);
    if (stop_) return absl::UnavailableError("the server is shutting down");
    pending_model_ = std::move(model);
    pending_dir_ = resolved;
    kicked_ = true;
    // The driver swaps once the engine is idle; wait for it.
    auto swapped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_model_ == nullptr || stop_; };
    mu_.Await(absl::Condition(&swapped));
    if (stop_ && pending_model_ != nullptr) return absl::UnavailableError("the server is shutting down");
    LOG(INFO) << "serving " << served_dir_ << " as version " << version_;
    return absl::OkStatus();
  }

  ServingStats stats() const override {
    absl::MutexLock lock(&mu_);
    ServingStats s = stats_;
    s.requests_running = static_cast<int64_t>(live_.size());
    s.weights_version = version_;
    return s;
  }

 private:
  // The key choice c > 0 of a served request derives its stream with.
  static constexpr uint64_t kChoiceKey = 0x6f70656e61692d63ULL;  // "openai-c"

  // A request's driver-side state.
  struct Live {
    std::shared_ptr<ServedRequest> request;
    std::vector<std::string> engine_ids;
    std::vector<size_t> emitted;  // per choice: the bytes of its text sent so far
    size_t holdback = 0;
    int64_t finished = 0;  // choices; guarded by the engine's mu_

    void OnToken(int64_t choice, const TokenEvent& e) {
      size_t& sent = emitted[static_cast<size_t>(choice)];
      ChoiceEvent ev;
      ev.choice = choice;
      ev.token_ids.push_back(e.token_id);
      if (e.logprobs != nullptr) ev.logprobs.push_back({e.logprobs->id, e.logprobs->logprob, e.logprobs->top});
      const size_t end = SafeEnd(*e.text, holdback, sent);
      if (end > sent) {
        ev.text = e.text->substr(sent, end - sent);
        sent = end;
      }
      request->Push(std::move(ev));
    }
  };

  absl::Status NewEngine() {
    EngineOptions eo;
    eo.max_seqs = options_.max_seqs;
    eo.kv_cache_mb = options_.kv_cache_mb;
    ASSIGN_OR_RETURN(engine_, CreateEngine(gm_, eo));
    return absl::OkStatus();
  }

  absl::Status Check(const GenerationRequest& g, int64_t p, bool many) const {
    const std::string where = many ? absl::StrCat("prompt ", p, ": ") : "";
    if (g.prompt_ids.empty()) return absl::InvalidArgumentError(absl::StrCat(where, "the prompt is empty"));
    for (size_t i = 0; i < g.prompt_ids.size(); ++i) {
      if (g.prompt_ids[i] < 0 || g.prompt_ids[i] >= vocab_) {
        return absl::InvalidArgumentError(absl::StrCat(where, "prompt token ", i, " is ", g.prompt_ids[i],
                                                       ", outside the vocabulary [0, ", vocab_, ")"));
      }
    }
    const int64_t plen = static_cast<int64_t>(g.prompt_ids.size());
    if (plen >= context_) {
      return absl::InvalidArgumentError(absl::StrCat(where, "the prompt has ", plen,
                                                     " tokens but this model's context is ", context_,
                                                     " tokens; nothing could be generated"));
    }
    if (absl::Status s = g.params.Validate(vocab_); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, s.message()));
    }
    return absl::OkStatus();
  }

  void OnDone(SampleResult r) {
    std::shared_ptr<Live> live;
    {
      absl::MutexLock lock(&mu_);
      const std::string rid = r.prompt_id.substr(0, r.prompt_id.find('/'));
      auto it = live_.find(rid);
      if (it == live_.end()) return;  // cancelled meanwhile
      live = it->second;
    }
    const int64_t p = std::stoll(r.prompt_id.substr(r.prompt_id.find('/') + 1));
    const int64_t choice = p * (live->request->num_choices() / static_cast<int64_t>(live->engine_ids.size())) +
                           r.sample_index;
    size_t& sent = live->emitted[static_cast<size_t>(choice)];
    ChoiceEvent ev;
    ev.choice = choice;
    if (r.text.size() > sent) ev.text = r.text.substr(sent);
    sent = r.text.size();
    ev.finished = true;
    ev.finish_reason = r.finish_reason;
    ev.num_tokens = r.num_tokens;
    ev.weights_version = r.weights_version;
    live->request->Push(std::move(ev));
    absl::MutexLock lock(&mu_);
    stats_.generated_tokens += r.num_tokens;
    if (++live->finished == live->request->num_choices()) live_.erase(live->request->id());
  }

  void Drive() {
    at::NoGradGuard no_grad;
    auto done = [this](SampleResult r) { OnDone(std::move(r)); };
    while (true) {
      std::vector<GenerationRequest> submit;
      std::vector<std::shared_ptr<Live>> cancels;
      {
        absl::MutexLock lock(&mu_);
        auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return kicked_ || stop_; };
        if (!busy_) mu_.AwaitWithTimeout(absl::Condition(&wake), absl::Milliseconds(100));
        kicked_ = false;
        if (stop_) break;
        cancels.swap(cancels_);
        if (pending_model_ != nullptr && !busy_ && cancels.empty()) {
          // Idle: nothing computed with the old weights is in flight.
          engine_->SwapWeights(pending_model_, version_ + 1).IgnoreError();
          gm_.model = std::move(pending_model_);
          pending_model_ = nullptr;
          served_dir_ = pending_dir_;
          ++version_;
        }
        if (pending_model_ == nullptr) {
          for (auto& g : held_) {
            if (live_.count(g.id.substr(0, g.id.find('/'))) > 0) submit.push_back(std::move(g));  // not cancelled
          }
          held_.clear();
        }
      }
      for (const auto& live : cancels) {
        for (const std::string& id : live->engine_ids) engine_->Cancel(id);
      }
      for (auto& g : submit) {
        const std::string rid = g.id.substr(0, g.id.find('/'));
        if (absl::Status s = engine_->Submit(std::move(g)); !s.ok()) FailRequest(rid, s);
      }
      try {
        busy_ = engine_->Step(done);
      } catch (const std::exception& e) {
        // An allocation failure in a step: what was in flight is lost, the
        // server is not.
        LOG(ERROR) << "generation step failed: " << e.what();
        FailAll(absl::ResourceExhaustedError(absl::StrCat("generation failed: ", e.what())));
        if (absl::Status s = NewEngine(); !s.ok()) LOG(ERROR) << s;
        busy_ = false;
      }
      const EngineStats es = engine_->stats();
      absl::MutexLock lock(&mu_);
      stats_.running_sequences = es.running;
      stats_.waiting_samples = es.waiting_samples;
      stats_.kv_blocks_total = es.kv_blocks;
      stats_.kv_blocks_peak = es.peak_kv_blocks;
    }
  }

  void FailRequest(const std::string& rid, const absl::Status& s) {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(rid);
    if (it == live_.end()) return;
    it->second->request->Fail(s);
    cancels_.push_back(it->second);
    live_.erase(it);
  }

  void FailAll(const absl::Status& s) {
    absl::MutexLock lock(&mu_);
    for (auto& [id, live] : live_) live->request->Fail(s);
    live_.clear();
  }

  const ServingEngineOptions options_;
  DecoderOptions dopts_;
  GenerationModel gm_;  // the model pointer changes on the driver thread only
  ModelConfig config_;  // constant after Init
  int64_t context_ = 0;
  int64_t vocab_ = 0;
  std::unique_ptr<Engine> engine_;  // driver thread
  bool busy_ = false;               // driver thread: the last step had work
  std::thread driver_;
  std::atomic<int64_t> next_id_{0};
  absl::Mutex reload_mu_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool kicked_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::shared_ptr<Live>> live_ ABSL_GUARDED_BY(mu_);
  std::vector<GenerationRequest> held_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Live>> cancels_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Decoder> pending_model_ ABSL_GUARDED_BY(mu_);
  std::string pending_dir_ ABSL_GUARDED_BY(mu_);
  std::string served_dir_ ABSL_GUARDED_BY(mu_);
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  ServingStats stats_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<ServingEngine>> ServingEngine::Start(const ServingEngineOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  auto e = std::make_unique<ServingEngineImpl>(options);
  RETURN_IF_ERROR(e->Init());
  return std::unique_ptr<ServingEngine>(std::move(e));
}

}  // namespace ssd
