// ServingEngine: the native engine (common/sampling/engine.h) behind a
// request/stream interface for `ssd serve`: one driver thread steps the
// engine while HTTP threads submit OpenAI requests and read their events.
//
// A served request is one engine request per prompt; its choices are
// numbered prompt * n + sample, as OpenAI numbers them. Every choice draws
// from its own random stream: choice 0 of a request with seed S from the
// stream S itself, choice c > 0 from SampleStreamSeed(S, key, c) (an
// unseeded request draws a random S). So the openai backend, which sends
// one request per sample with the sample's stream seed as `seed`, gets
// bitwise the native engine's sample, and a seeded request is reproducible
// whatever else is running (the decoder is batch-invariant on CPU).
//
// Streaming: the driver turns each token into a ChoiceEvent carrying the
// text the choice gained. While a choice runs, the last (longest stop
// string - 1) bytes are held back, as vLLM holds them, so text already sent
// is never cut by a stop string; the last event carries the rest and the
// finish reason. Events queue per request and merge while the reader is
// behind, so a slow client costs the driver nothing.
//
// Reload(dir): loads another version of the same architecture, stops
// admitting new requests, lets the running ones finish on the old weights,
// swaps, and admits again; every choice comes from one version.
//
// Threading: every public method is thread-safe; the driver thread is the
// only one that touches the engine's steps.
#ifndef SSD_SAMPLER_WORKER_SERVE_SERVING_ENGINE_H_
#define SSD_SAMPLER_WORKER_SERVE_SERVING_ENGINE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/sampling/sampling_params.h"
#include "nlohmann/json.hpp"

namespace ssd {

class ServingEngineImpl;

struct ServingEngineOptions {
  std::string model_dir;
  std::string tokenizer_dir;  // "" : the model folder's
  std::string device = "cpu";
  std::string dtype = "auto";
  int64_t max_seqs = 32;
  int64_t kv_cache_mb = 512;
  // Requests in the engine at once (running or waiting); Submit refuses
  // more with RESOURCE_EXHAUSTED (HTTP 429).
  int64_t max_pending = 256;

  absl::Status Validate() const;
};

struct ChoiceEvent {
  int64_t choice = 0;
  std::string text;  // what the choice's text gained
  std::vector<int64_t> token_ids;
  struct Logprob {
    int64_t id = -1;
    float logprob = 0;
    std::vector<std::pair<int64_t, float>> top;
  };
  std::vector<Logprob> logprobs;  // of token_ids, when asked for
  bool finished = false;
  std::string finish_reason;  // with finished
  int64_t num_tokens = 0;     // with finished
  int64_t weights_version = 0;
};

// One served request's events. The driver pushes; one reader takes.
class ServedRequest {
 public:
  // Waits up to `timeout` for events and moves them into `out`. Returns
  // false once every choice has finished and everything was taken, or the
  // request failed (see status()).
  bool Next(std::vector<ChoiceEvent>* out, absl::Duration timeout);
  absl::Status status() const;
  int64_t num_choices() const { return num_choices_; }
  int64_t prompt_tokens() const { return prompt_tokens_; }
  const std::string& id() const { return id_; }

 private:
  friend class ServingEngineImpl;
  ServedRequest(std::string id, int64_t num_choices, int64_t prompt_tokens)
      : id_(std::move(id)), num_choices_(num_choices), prompt_tokens_(prompt_tokens) {}
  void Push(ChoiceEvent e);
  void Fail(absl::Status s);

  const std::string id_;
  const int64_t num_choices_;
  const int64_t prompt_tokens_;
  mutable absl::Mutex mu_;
  std::deque<ChoiceEvent> events_ ABSL_GUARDED_BY(mu_);
  int64_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

struct ServingStats {
  int64_t requests_running = 0;  // submitted, not finished
  int64_t requests_total = 0;
  int64_t requests_cancelled = 0;
  int64_t requests_refused_full = 0;
  int64_t generated_tokens = 0;
  int64_t prompt_tokens = 0;
  int64_t running_sequences = 0;
  int64_t waiting_samples = 0;
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_peak = 0;
  int64_t weights_version = 0;
};

class ServingEngine {
 public:
  // Loads the model and starts the driver thread.
  static absl::StatusOr<std::unique_ptr<ServingEngine>> Start(const ServingEngineOptions& options);
  virtual ~ServingEngine() = default;
  // Stops the driver (failing what is in flight); idempotent.
  virtual void Shutdown() = 0;

  // The model's context (max_position_embeddings) and vocabulary.
  virtual int64_t context_length() const = 0;
  virtual int64_t vocab_size() const = 0;
  // The folder being served and its version (0 at start, +1 per Reload).
  virtual std::string model_dir() const = 0;
  virtual int64_t weights_version() const = 0;

  // Prompt ids of a text (special tokens recognised, no BOS added: the
  // sampler's native path) or of a chat rendered with the folder's
  // template. Errors are INVALID_ARGUMENT (the field) or
  // FAILED_PRECONDITION (no chat template).
  virtual absl::StatusOr<std::vector<int64_t>> EncodeText(const std::string& text) const = 0;
  virtual absl::StatusOr<std::vector<int64_t>> RenderChat(const nlohmann::ordered_json& messages,
                                                          bool add_generation_prompt,
                                                          const nlohmann::ordered_json& template_kwargs) const = 0;
  // A token's bytes, as logprobs show it.
  virtual std::string TokenText(int64_t id) const = 0;

  // Queues the prompts (each `params.n` choices; `params.stop_token_ids`
  // are added to the model's own unless params.ignore_eos). `seed` is the
  // request's S (see the header). INVALID_ARGUMENT names a bad parameter or
  // prompt ("prompt N: ..."); RESOURCE_EXHAUSTED when max_pending requests
  // are in; UNAVAILABLE after Shutdown.
  virtual absl::StatusOr<std::shared_ptr<ServedRequest>> Submit(const std::vector<std::vector<int64_t>>& prompts,
                                                                SamplingParams params, uint64_t seed) = 0;
  // Frees the request's sequences (a client that went away).
  virtual void Cancel(const ServedRequest& request) = 0;

  // Serves the model in `dir` from now on (see the header); the version
  // number goes up by one. Refuses another architecture.
  virtual absl::Status Reload(const std::string& dir) = 0;

  virtual ServingStats stats() const = 0;
};

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_SERVE_SERVING_ENGINE_H_
