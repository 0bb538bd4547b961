// GenerationBackend: what the sampler worker needs from an inference
// engine, so that the worker loop knows nothing of libtorch. Two
// implementations: the native engine (engine_backend.h) and any
// OpenAI-compatible server, `ssd serve`, vLLM or SGLang (openai_backend.h).
//
// Determinism contract: a sample is a function of the weights, the prompt,
// the sampling settings, the seed, the problem id and the sample index only
// (placement independence), so a re-run shard regenerates bitwise the same
// samples on CPU.
#ifndef SSD_SAMPLER_WORKER_GENERATION_BACKEND_H_
#define SSD_SAMPLER_WORKER_GENERATION_BACKEND_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ssd/v1/job.pb.h"
#include "ssd/v1/replay_store.pb.h"
#include "ssd/v1/types.pb.h"

namespace ssd {

struct BackendSettings {
  double temperature = 1.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  double min_p = 0.0;
  double repetition_penalty = 1.0;
  int64_t max_tokens = 256;
  int64_t min_tokens = 0;  // capped at a problem's own max_tokens
  uint64_t seed = 0;
  std::vector<std::string> stop;
};

struct BackendRequest {
  const v1::Problem* problem = nullptr;  // raw_prompt or messages_json
  std::vector<int64_t> sample_indices;
  BackendSettings settings;
};

struct BackendSample {
  std::string problem_id;
  int64_t sample_index = 0;
  std::string text;
  int64_t num_tokens = 0;
  v1::FinishReason finish_reason = v1::FINISH_REASON_UNSPECIFIED;
  double cumulative_logprob = 0;
  int64_t weights_version = 0;
};

// Sample.sft_tokens and sft_loss_tokens.
struct TrainingSize {
  int64_t tokens = 0;
  int64_t loss_tokens = 0;
};

struct BackendStats {
  int64_t generated_tokens = 0;
  int64_t samples_finished = 0;
  int64_t running = 0;
  int64_t waiting = 0;
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_total = 0;
  int64_t weights_version = -1;  // of the loaded model; -1 when none
  std::string weights_job;
  // An external server's calls (openai backend): requests answered, those
  // that failed (each retry counts), and the answered ones' total seconds.
  int64_t backend_requests = 0;
  int64_t backend_errors = 0;
  double backend_request_seconds = 0;
};

class GenerationBackend {
 public:
  virtual ~GenerationBackend() = default;
  // Serves `ref` from the model folder `dir` from now on (a no-op when it
  // already does). Swapping to another version of the same architecture
  // keeps the engine; another model loads afresh.
  virtual absl::Status Use(const v1::WeightsRef& ref, const std::string& dir) = 0;
  // Generates every requested sample, calling `on_sample` (on the calling
  // thread) as each finishes. Stops early with CANCELLED when `cancel`
  // turns true. A request that cannot be served (a prompt longer than the
  // context, a bad setting) fails the call naming the problem.
  virtual absl::Status Generate(const std::vector<BackendRequest>& requests, bool enable_thinking,
                                const std::function<void(BackendSample)>& on_sample,
                                const std::atomic<bool>* cancel) = 0;
  virtual BackendStats stats() const = 0;
  // OK while the backend can take work. An external server that stayed
  // down says why here; the worker then takes no lease (it keeps
  // heartbeating) until this is OK again. May probe the server; call it
  // from the worker loop's thread.
  virtual absl::Status Health() { return absl::OkStatus(); }
  // Sizes the training conversation of `text` as an answer to `problem`
  // (common/chat/training_conversation.h) with the loaded model's chat
  // template and tokenizer, cut at `max_seq_len` as the trainer cuts it.
  // {max_seq_len, 0} when the cut leaves nothing to train on. UNIMPLEMENTED
  // when the backend cannot count (the sample is then stored uncounted).
  virtual absl::StatusOr<TrainingSize> SizeTrainingConversation(const v1::Problem& problem, absl::string_view text,
                                                                int64_t max_seq_len, bool enable_thinking) {
    return absl::UnimplementedError("this backend does not size training conversations");
  }
};

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_GENERATION_BACKEND_H_
