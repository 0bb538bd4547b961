// Engine: batched generation with continuous batching over a paged KV cache.
//
// Requests (a prompt, sampling parameters and the sample indices wanted)
// are queued by Submit(). Each Step():
//   1. applies a pending weight swap (see SwapWeights);
//   2. admits work while sequence slots and KV blocks allow, FIFO: a new
//      prompt is prefilled once (prefills of several prompts share one
//      batched call, up to max_prefill_tokens), and every sample of that
//      prompt forks the prompt's KV blocks (shared, copy-on-fork of the last
//      partial block) and draws its first token from the prompt's logits;
//   3. runs one batched decode step for every running sequence, draws the
//      next tokens, and finishes sequences on a stop token, a stop string,
//      max_tokens or the model's context length; a finished sequence frees
//      its slot and blocks for the next waiting sample at once.
//
// Memory: the KV cache is a fixed pool of kv_cache_mb. A prompt waits until
// its blocks are free. When a running sequence needs a block and none is
// free, the most recently admitted sequence is preempted: its blocks are
// freed and it is later re-prefilled from its prompt and generated tokens
// (vLLM's recompute preemption), so the engine never exceeds the budget.
//
// Determinism: token `step` of sample `s` of prompt `id` is drawn with the
// uniform SampleUniform(seed, PromptKey(id), s, step) (or from the stream
// the request names in stream_seeds); nothing depends on
// the batch or worker. With a batch-invariant model (DecoderOptions::
// batch_invariant, CPU fp32) the logits are bitwise independent of the
// batch too, so a sample is identical alone, in any batch, interleaved with
// other requests, after preemption, and on another worker.
//
// Weight swap policy (SwapPolicy):
//   kRestart (default): sequences in flight when the swap lands are
//     discarded and regenerated from scratch with the new weights, so every
//     sample comes from exactly one weights version (reported with it).
//   kContinue: in-flight sequences keep their KV and continue with the new
//     weights; their results report the version that finished them.
// Either way the new weights are used from the next decode step on, whole:
// a swap is one pointer exchange between steps.
//
// Threading: Submit(), Cancel() and SwapWeights() may be called from any thread;
// Step()/RunUntilDone() from one driver thread at a time.
#ifndef SSD_COMMON_SAMPLING_ENGINE_H_
#define SSD_COMMON_SAMPLING_ENGINE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/model/decoder.h"
#include "common/sampling/sampling_params.h"
#include "common/sampling/token_sampler.h"
#include "common/tokenizer/tokenizer.h"

namespace ssd {

// One generated token's log-probabilities (SamplingParams::logprobs).
struct TokenLogprobs {
  int64_t id = -1;
  float logprob = 0;
  std::vector<std::pair<int64_t, float>> top;  // the k most likely, descending
};

// What a request's on_token callback sees after each accepted token.
struct TokenEvent {
  int64_t sample_index = 0;
  int64_t token_id = -1;
  // The sample's text so far: stop strings applied, the bytes of an
  // incomplete UTF-8 character held back. It only grows, except that a stop
  // string may cut it on the token that finishes the sample; the final
  // text is the SampleResult's.
  const std::string* text = nullptr;
  const TokenLogprobs* logprobs = nullptr;  // null unless params.logprobs >= 0
};

struct GenerationRequest {
  std::string id;                   // the prompt id; keys the random stream; Cancel() names it
  std::vector<int64_t> prompt_ids;  // non-empty
  SamplingParams params;
  // Which samples to generate. Empty: 0 .. params.n - 1. A resumed or
  // re-run shard asks for just the missing ones.
  std::vector<int64_t> sample_indices;
  // Optional, one per sample index: sample i draws from the random stream
  // stream_seeds[i] (philox.h StreamUniform) instead of its default stream,
  // SampleStreamSeed(params.seed, PromptKey(id), index).
  std::vector<uint64_t> stream_seeds;
  // Optional: called on the driver thread after every accepted token,
  // before the sample's DoneCallback (for streaming).
  std::function<void(const TokenEvent&)> on_token;
};

struct SampleResult {
  std::string prompt_id;
  int64_t sample_index = 0;
  std::vector<int64_t> ids;         // generated ids, a final stop token included
  std::string text;                 // decoded text without the stop token or stop string
  std::string finish_reason;        // "stop" or "length"
  int64_t num_tokens = 0;           // ids.size()
  double cumulative_logprob = 0.0;  // sum of the drawn tokens' logprobs
  std::vector<TokenLogprobs> logprobs;  // one per id when params.logprobs >= 0
  int64_t weights_version = 0;
  double queue_s = 0;        // submit -> admitted
  double first_token_s = 0;  // submit -> first token
  double total_s = 0;        // submit -> finished
};

enum class SwapPolicy { kRestart, kContinue };

struct EngineOptions {
  int64_t max_seqs = 32;              // sequence slots decoded together
  int64_t kv_cache_mb = 512;          // KV pool budget
  int64_t block_size = 16;            // positions per KV block
  int64_t max_prefill_tokens = 4096;  // prompt tokens prefilled per step
  SwapPolicy swap_policy = SwapPolicy::kRestart;
  // Stop ids used when a request gives none (e.g. the model's EOS and the
  // chat end-of-turn token).
  std::vector<int64_t> default_stop_ids;

  absl::Status Validate() const;
};

struct EngineStats {
  int64_t prompts_prefilled = 0;
  int64_t prefill_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t samples_finished = 0;
  int64_t preemptions = 0;
  int64_t restarts_after_swap = 0;
  int64_t samples_cancelled = 0;  // by Cancel(), finished or not
  int64_t kv_blocks = 0;
  int64_t kv_block_bytes = 0;
  int64_t peak_kv_blocks = 0;
  int64_t running = 0;
  int64_t waiting_samples = 0;
  // Wall seconds of the engine's steps so far (step_seconds), and of three
  // parts of them: the prefill forward passes, the decode forward passes,
  // and drawing the decode steps' tokens (truncation and the draw). The rest
  // is admission, bookkeeping, stop checks, detokenizing and callbacks.
  double prefill_seconds = 0;
  double forward_seconds = 0;
  double draw_seconds = 0;
  double step_seconds = 0;
};

class Engine {
 public:
  using DoneCallback = std::function<void(SampleResult)>;

  // `tokenizer` may be null: results then carry no text and stop strings are
  // refused. The model must outlive nothing: the engine shares ownership.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(std::shared_ptr<const Decoder> model,
                                                        const Tokenizer* tokenizer, const EngineOptions& options);
  ~Engine();

  // Validates and queues a request. On error (the message names the bad
  // parameter) nothing is queued and other requests are unaffected.
  absl::Status Submit(GenerationRequest request);

  // One scheduling step (see the header comment); finished samples go to
  // `on_done` in finishing order. Returns false when there was no work.
  bool Step(const DoneCallback& on_done);
  // Steps until every submitted sample has finished.
  void RunUntilDone(const DoneCallback& on_done);
  // Driver thread only.
  bool HasWork() const;

  // Drops every sample of the requests with this id, queued or running, at
  // the start of the next step: their KV blocks and slots are freed and no
  // DoneCallback comes for them (thread-safe; an unknown id is a no-op).
  void Cancel(const std::string& id);

  // Installs new weights between decode steps (thread-safe; the last of
  // several pending swaps wins). The model must have the same architecture.
  absl::Status SwapWeights(std::shared_ptr<const Decoder> model, int64_t version);
  int64_t weights_version() const;

  EngineStats stats() const;
  const EngineOptions& options() const { return options_; }

 private:
  struct Request;
  struct Sequence;
  Engine(std::shared_ptr<const Decoder> model, const Tokenizer* tokenizer, const EngineOptions& options,
         int64_t num_blocks);

  void ApplyPendingSwap();
  void ApplyCancels();
  void Admit(const DoneCallback& on_done);
  void Prefill(const std::vector<std::shared_ptr<Request>>& prompts,
               const std::vector<std::unique_ptr<Sequence>>& resumed);
  void Decode(const DoneCallback& on_done);
  std::unique_ptr<Sequence> StartSample(const std::shared_ptr<Request>& r, int64_t sample_index);
  // The sequence's next token from `logits` (modified), and its raw
  // logprobs into `lp` when the request asks for them; touches no engine
  // state, so rows may be drawn in parallel with one sampler per thread.
  SampledToken Draw(const Sequence& s, float* logits, TokenSampler& sampler, TokenLogprobs* lp) const;
  // Appends the token, updates text and stop checks, tells on_token.
  // Returns the finish reason, or "" while the sequence goes on.
  std::string Accept(Sequence& s, const SampledToken& t, TokenLogprobs lp);
  void Finish(std::unique_ptr<Sequence> s, const std::string& reason, const DoneCallback& on_done);
  void Preempt(std::unique_ptr<Sequence> s);
  int64_t TakeSeqId();
  void ReturnSeqId(int64_t id);

  // Constant after construction (the architecture cannot change).
  const Tokenizer* const tokenizer_;
  const EngineOptions options_;
  const ModelConfig config_;
  const DecoderOptions decoder_options_;
  const int64_t num_blocks_;
  const int64_t context_len_;

  // Owned by the driver thread.
  std::shared_ptr<const Decoder> model_;
  int64_t version_ = 0;
  std::unique_ptr<KVCache> cache_;
  std::vector<int64_t> free_seq_ids_;
  std::deque<std::shared_ptr<Request>> active_;      // prompts with samples to start
  std::deque<std::unique_ptr<Sequence>> preempted_;  // to re-prefill first
  std::vector<std::unique_ptr<Sequence>> running_;
  std::vector<TokenSampler> samplers_ = std::vector<TokenSampler>(1);  // per drawing thread
  EngineStats stats_;

  mutable absl::Mutex mu_;
  std::deque<std::shared_ptr<Request>> submitted_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> cancelled_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Decoder> pending_model_ ABSL_GUARDED_BY(mu_);
  int64_t pending_version_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t published_version_ ABSL_GUARDED_BY(mu_) = 0;
  EngineStats published_stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ssd

#endif  // SSD_COMMON_SAMPLING_ENGINE_H_
