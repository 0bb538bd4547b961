#include "sampler_worker/engine_backend.h"

#include <c10/util/Exception.h>
#include <glog/logging.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "common/chat/training_conversation.h"
#include "common/model/device.h"
#include "common/sampling/engine.h"
#include "common/sampling/generation_model.h"
#include "common/util/status_macros.h"
#include "sampler_worker/problem_prompt.h"

namespace ssd {
namespace {

class EngineBackend : public GenerationBackend {
 public:
  explicit EngineBackend(const EngineBackendOptions& options) : options_(options) {}

  absl::Status Use(const v1::WeightsRef& ref, const std::string& dir) override {
    if (engine_ != nullptr && ref.job_id() == job_ && ref.version() == version_) return absl::OkStatus();
    try {
      ASSIGN_OR_RETURN(DecoderOptions dopts, ResolveDevice(options_.device, options_.dtype));
      auto gm = LoadGenerationModel(dir, dopts);
      if (!gm.ok()) {
        return absl::FailedPreconditionError(absl::StrCat("cannot load the model for ", ref.job_id(), " v",
                                                          ref.version(), " from ", dir, ": ", gm.status().message()));
      }
      if (engine_ != nullptr && ref.job_id() == job_ && SameShape(gm->model->config(), gm_.model->config())) {
        // The same model, new weights: swap between steps, keep the engine
        // (its KV pool, its tokenizer: a pushed version carries the same one).
        RETURN_IF_ERROR(engine_->SwapWeights(gm->model, ref.version()));
        gm_.model = gm->model;
      } else {
        engine_.reset();
        gm_ = std::move(*gm);
        EngineOptions eo;
        eo.max_seqs = options_.max_seqs;
        eo.kv_cache_mb = options_.kv_cache_mb;
        ASSIGN_OR_RETURN(engine_, CreateEngine(gm_, eo));
        if (ref.version() > 0) RETURN_IF_ERROR(engine_->SwapWeights(gm_.model, ref.version()));
      }
    } catch (const c10::Error& e) {
      return absl::ResourceExhaustedError(absl::StrCat("loading ", dir, ": ", e.what_without_backtrace()));
    }
    job_ = ref.job_id();
    version_ = ref.version();
    absl::MutexLock lock(&mu_);
    stats_.weights_job = job_;
    stats_.weights_version = version_;
    LOG(INFO) << "serving " << job_ << " v" << version_ << " from " << dir;
    return absl::OkStatus();
  }

  absl::Status Generate(const std::vector<BackendRequest>& requests, bool enable_thinking,
                        const std::function<void(BackendSample)>& on_sample, const std::atomic<bool>* cancel) override {
    if (engine_ == nullptr) return absl::FailedPreconditionError("no model loaded");
    try {
      for (const BackendRequest& r : requests) {
        ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                         ProblemPromptIds(*r.problem, gm_.chat.get(), *gm_.tokenizer, enable_thinking));
        GenerationRequest g;
        g.id = r.problem->id();
        g.prompt_ids = std::move(ids);
        g.sample_indices = r.sample_indices;
        SamplingParams& p = g.params;
        p.n = static_cast<int64_t>(r.sample_indices.size());
        p.temperature = r.settings.temperature;
        p.top_k = r.settings.top_k;
        p.top_p = r.settings.top_p;
        p.min_p = r.settings.min_p;
        p.repetition_penalty = r.settings.repetition_penalty;
        p.max_tokens = r.problem->max_tokens() > 0 ? r.problem->max_tokens() : r.settings.max_tokens;
        p.min_tokens = std::min(r.settings.min_tokens, p.max_tokens);
        p.stop = r.settings.stop;
        p.seed = r.settings.seed;
        if (absl::Status s = engine_->Submit(std::move(g)); !s.ok()) {
          Drain();
          return absl::InvalidArgumentError(absl::StrCat("problem \"", r.problem->id(), "\": ", s.message()));
        }
      }
      auto done = [&](SampleResult s) {
        BackendSample b;
        b.problem_id = std::move(s.prompt_id);
        b.sample_index = s.sample_index;
        b.text = std::move(s.text);
        b.num_tokens = s.num_tokens;
        b.finish_reason = s.finish_reason == "length" ? v1::FINISH_REASON_LENGTH : v1::FINISH_REASON_STOP;
        b.cumulative_logprob = s.cumulative_logprob;
        b.weights_version = s.weights_version;
        on_sample(std::move(b));
      };
      while (engine_->HasWork()) {
        if (cancel != nullptr && cancel->load()) {
          Drain();
          return absl::CancelledError("generation cancelled");
        }
        engine_->Step(done);
        Publish();
      }
      Publish();
    } catch (const c10::Error& e) {
      // An allocation failure in a step: this batch is lost, the worker is not.
      engine_.reset();
      return absl::ResourceExhaustedError(absl::StrCat("generation failed: ", e.what_without_backtrace()));
    } catch (const std::exception& e) {
      engine_.reset();
      return absl::InternalError(absl::StrCat("generation failed: ", e.what()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<TrainingSize> SizeTrainingConversation(const v1::Problem& problem, absl::string_view text,
                                                        int64_t max_seq_len, bool enable_thinking) override {
    if (engine_ == nullptr) return absl::FailedPreconditionError("no model loaded");
    if (gm_.chat == nullptr) return absl::UnimplementedError("the model folder has no chat template");
    ConversationOptions o;
    o.max_seq_len = max_seq_len;
    o.chat.extra["enable_thinking"] = enable_thinking;
    ASSIGN_OR_RETURN(ExampleSize size, ::ssd::SizeTrainingConversation(problem.messages_json(), problem.raw_prompt(),
                                                                       text, *gm_.chat, *gm_.tokenizer, o));
    return TrainingSize{size.tokens, size.loss_tokens};
  }

  BackendStats stats() const override {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

 private:
  static bool SameShape(const ModelConfig& a, const ModelConfig& b) {
    return a.arch == b.arch && a.hidden_size == b.hidden_size && a.num_hidden_layers == b.num_hidden_layers &&
           a.vocab_size == b.vocab_size && a.intermediate_size == b.intermediate_size &&
           a.num_attention_heads == b.num_attention_heads && a.num_key_value_heads == b.num_key_value_heads &&
           a.head_dim == b.head_dim && a.tie_word_embeddings == b.tie_word_embeddings;
  }

  // Finishes what is queued without reporting it (after a cancel).
  void Drain() {
    engine_->RunUntilDone([](SampleResult) {});
  }

  void Publish() {
    const EngineStats s = engine_->stats();
    absl::MutexLock lock(&mu_);
    stats_.generated_tokens = s.generated_tokens;
    stats_.samples_finished = s.samples_finished;
    stats_.running = s.running;
    stats_.waiting = s.waiting_samples;
    stats_.kv_blocks_used = s.peak_kv_blocks;
    stats_.kv_blocks_total = s.kv_blocks;
  }

  const EngineBackendOptions options_;
  GenerationModel gm_;
  std::unique_ptr<Engine> engine_;
  std::string job_;
  int32_t version_ = -1;
  mutable absl::Mutex mu_;
  BackendStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<GenerationBackend> MakeEngineBackend(const EngineBackendOptions& options) {
  return std::make_unique<EngineBackend>(options);
}

}  // namespace ssd
