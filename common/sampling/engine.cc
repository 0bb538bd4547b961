#include "common/sampling/engine.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/sampling/philox.h"
#include "common/tokenizer/streaming_detokenizer.h"

namespace ssd {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double>(t1 - t0).count();
}

}  // namespace

struct Engine::Request {
  GenerationRequest req;
  uint64_t key = 0;
  std::vector<int64_t> stop_ids;     // sorted
  std::vector<int64_t> prompt_seen;  // sorted distinct prompt ids; only with a repetition penalty
  std::deque<int64_t> todo;          // sample indices not started yet
  int64_t prefix_seq = -1;           // cache sequence holding the prompt's KV
  std::vector<float> prompt_logits;  // logits after the prompt, once prefilled
  bool in_active = false;
  Clock::time_point submitted;
};

struct Engine::Sequence {
  std::shared_ptr<Request> r;
  int64_t sample_index = 0;
  int64_t seq_id = -1;
  std::vector<int64_t> out;  // generated ids; out.back() is not yet in the cache
  double logprob = 0;
  // Sorted distinct ids of the prompt and the output, kept up to date per
  // token (only with a repetition penalty), so a step never rescans them.
  std::vector<int64_t> seen;
  uint64_t stream_seed = 0;  // the random stream this sample draws from
  std::vector<TokenLogprobs> logprobs;
  std::unique_ptr<StreamingDetokenizer> detok;
  std::string text;
  bool text_cut = false;  // a stop string ended the text
  Clock::time_point admitted, first_token;
};

absl::Status EngineOptions::Validate() const {
  if (max_seqs < 1) return absl::InvalidArgumentError(absl::StrCat("max_seqs = ", max_seqs, ": must be >= 1"));
  if (kv_cache_mb < 1) {
    return absl::InvalidArgumentError(absl::StrCat("kv_cache_mb = ", kv_cache_mb, ": must be >= 1"));
  }
  if (block_size < 1 || block_size > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("block_size = ", block_size, ": must be in [1, 1024]"));
  }
  if (max_prefill_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_prefill_tokens = ", max_prefill_tokens, ": must be >= 1"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(std::shared_ptr<const Decoder> model, const Tokenizer* tokenizer,
                                                       const EngineOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("Engine needs a model");
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  const ModelConfig& c = model->config();
  if (tokenizer != nullptr && tokenizer->vocab_size() > c.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer has ", tokenizer->vocab_size(),
                                                   " tokens but the model's vocab_size is ", c.vocab_size));
  }
  for (int64_t id : options.default_stop_ids) {
    if (id < 0 || id >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("default stop id ", id, " is outside the vocabulary"));
    }
  }
  const int64_t block_bytes = KVCache::BytesPerBlock(c, options.block_size, model->options().dtype);
  const int64_t num_blocks = options.kv_cache_mb * (int64_t{1} << 20) / block_bytes;
  if (num_blocks < 2) {
    return absl::InvalidArgumentError(absl::StrCat("kv_cache_mb = ", options.kv_cache_mb, " holds ", num_blocks,
                                                   " KV blocks of ", block_bytes, " bytes; need at least 2"));
  }
  return std::unique_ptr<Engine>(new Engine(std::move(model), tokenizer, options, num_blocks));
}

Engine::Engine(std::shared_ptr<const Decoder> model, const Tokenizer* tokenizer, const EngineOptions& options,
               int64_t num_blocks)
    : tokenizer_(tokenizer),
      options_(options),
      config_(model->config()),
      decoder_options_(model->options()),
      num_blocks_(num_blocks),
      context_len_(model->config().max_position_embeddings),
      model_(std::move(model)) {
  KVCacheOptions co;
  co.block_size = options_.block_size;
  co.num_blocks = num_blocks;
  // Sample slots plus one prompt prefix per slot.
  co.max_seqs = 2 * options_.max_seqs;
  cache_ = model_->NewCache(co);
  for (int64_t i = co.max_seqs - 1; i >= 0; --i) free_seq_ids_.push_back(i);
  stats_.kv_blocks = num_blocks;
  stats_.kv_block_bytes = KVCache::BytesPerBlock(model_->config(), co.block_size, model_->options().dtype);
  absl::MutexLock lock(&mu_);
  published_stats_ = stats_;
}

Engine::~Engine() = default;

absl::Status Engine::Submit(GenerationRequest request) {
  // Only constants here: Submit may run on another thread than Step.
  const ModelConfig& c = config_;
  const std::string where = absl::StrCat("request ", request.id, ": ");
  auto bad = [&](const std::string& msg) { return absl::InvalidArgumentError(where + msg); };
  if (request.id.empty()) return absl::InvalidArgumentError("request id must not be empty");
  if (absl::Status s = request.params.Validate(c.vocab_size); !s.ok()) return bad(std::string(s.message()));
  if (request.prompt_ids.empty()) return bad("prompt is empty");
  for (size_t i = 0; i < request.prompt_ids.size(); ++i) {
    const int64_t id = request.prompt_ids[i];
    if (id < 0 || id >= c.vocab_size) {
      return bad(absl::StrCat("prompt token ", i, " is ", id, ", outside the vocabulary [0, ", c.vocab_size, ")"));
    }
  }
  const int64_t plen = static_cast<int64_t>(request.prompt_ids.size());
  if (plen >= context_len_) {
    return bad(absl::StrCat("prompt has ", plen, " tokens but the model's context (max_position_embeddings) is ",
                            context_len_, "; nothing could be generated"));
  }
  const int64_t blocks = (plen + 1 + options_.block_size - 1) / options_.block_size;
  if (blocks > num_blocks_) {
    return bad(absl::StrCat("prompt of ", plen, " tokens needs ", blocks,
                            " KV blocks but kv_cache_mb = ", options_.kv_cache_mb, " holds ", num_blocks_));
  }
  if (!request.params.stop.empty() && tokenizer_ == nullptr) {
    return bad("stop strings need a tokenizer to decode text");
  }
  if (request.sample_indices.empty()) {
    for (int64_t i = 0; i < request.params.n; ++i) request.sample_indices.push_back(i);
  }
  std::set<int64_t> seen;
  for (int64_t s : request.sample_indices) {
    if (s < 0 || s > 0xffffffffLL) return bad(absl::StrCat("sample index ", s, " is outside [0, 2^32)"));
    if (!seen.insert(s).second) return bad(absl::StrCat("sample index ", s, " is listed twice"));
  }
  if (!request.stream_seeds.empty() && request.stream_seeds.size() != request.sample_indices.size()) {
    return bad(absl::StrCat(request.stream_seeds.size(), " stream seeds for ", request.sample_indices.size(),
                            " samples: give one per sample index, or none"));
  }
  auto r = std::make_shared<Request>();
  r->key = PromptKey(request.id);
  r->stop_ids = request.params.stop_token_ids.empty() && !request.params.ignore_eos ? options_.default_stop_ids
                                                                                    : request.params.stop_token_ids;
  std::sort(r->stop_ids.begin(), r->stop_ids.end());
  if (request.params.repetition_penalty != 1.0) {
    r->prompt_seen = request.prompt_ids;
    std::sort(r->prompt_seen.begin(), r->prompt_seen.end());
    r->prompt_seen.erase(std::unique(r->prompt_seen.begin(), r->prompt_seen.end()), r->prompt_seen.end());
  }
  r->todo.assign(request.sample_indices.begin(), request.sample_indices.end());
  r->req = std::move(request);
  r->submitted = Clock::now();
  absl::MutexLock lock(&mu_);
  published_stats_.waiting_samples += static_cast<int64_t>(r->todo.size());
  submitted_.push_back(std::move(r));
  return absl::OkStatus();
}

void Engine::Cancel(const std::string& id) {
  absl::MutexLock lock(&mu_);
  cancelled_.push_back(id);
}

void Engine::ApplyCancels() {
  std::vector<std::string> ids;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_.empty()) return;
    ids.swap(cancelled_);
    std::sort(ids.begin(), ids.end());
    // Not admitted yet: nothing to free.
    for (auto it = submitted_.begin(); it != submitted_.end();) {
      if (std::binary_search(ids.begin(), ids.end(), (*it)->req.id)) {
        stats_.samples_cancelled += static_cast<int64_t>((*it)->todo.size());
        it = submitted_.erase(it);
      } else {
        ++it;
      }
    }
  }
  auto gone = [&](const Request& r) { return std::binary_search(ids.begin(), ids.end(), r.req.id); };
  for (auto it = running_.begin(); it != running_.end();) {
    if (gone(*(*it)->r)) {
      ReturnSeqId((*it)->seq_id);
      ++stats_.samples_cancelled;
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = preempted_.begin(); it != preempted_.end();) {
    if (gone(*(*it)->r)) {
      ++stats_.samples_cancelled;
      it = preempted_.erase(it);  // its blocks went at the preemption
    } else {
      ++it;
    }
  }
  for (auto it = active_.begin(); it != active_.end();) {
    Request& r = **it;
    if (gone(r)) {
      if (r.prefix_seq >= 0) ReturnSeqId(r.prefix_seq);
      r.prefix_seq = -1;
      stats_.samples_cancelled += static_cast<int64_t>(r.todo.size());
      r.todo.clear();
      r.in_active = false;
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
}

absl::Status Engine::SwapWeights(std::shared_ptr<const Decoder> model, int64_t version) {
  if (model == nullptr) return absl::InvalidArgumentError("SwapWeights: no model");
  if (!model->config().SameArchitecture(config_)) {
    return absl::InvalidArgumentError("SwapWeights: the new weights have a different architecture");
  }
  if (model->options().device != decoder_options_.device || model->options().dtype != decoder_options_.dtype ||
      model->options().batch_invariant != decoder_options_.batch_invariant) {
    return absl::InvalidArgumentError(
        "SwapWeights: the new weights live on another device, dtype or batch-invariance setting");
  }
  absl::MutexLock lock(&mu_);
  pending_model_ = std::move(model);
  pending_version_ = version;
  return absl::OkStatus();
}

int64_t Engine::weights_version() const {
  absl::MutexLock lock(&mu_);
  return published_version_;
}

EngineStats Engine::stats() const {
  absl::MutexLock lock(&mu_);
  return published_stats_;
}

bool Engine::HasWork() const {
  {
    absl::MutexLock lock(&mu_);
    if (!submitted_.empty()) return true;
  }
  return !active_.empty() || !preempted_.empty() || !running_.empty();
}

int64_t Engine::TakeSeqId() {
  if (free_seq_ids_.empty()) return -1;
  const int64_t id = free_seq_ids_.back();
  free_seq_ids_.pop_back();
  return id;
}

void Engine::ReturnSeqId(int64_t id) {
  cache_->Release(id);
  free_seq_ids_.push_back(id);
}

void Engine::ApplyPendingSwap() {
  std::shared_ptr<const Decoder> next;
  int64_t version = 0;
  {
    absl::MutexLock lock(&mu_);
    if (pending_model_ == nullptr) return;
    next = std::move(pending_model_);
    pending_model_ = nullptr;
    version = pending_version_;
    published_version_ = version;
  }
  model_ = std::move(next);
  version_ = version;
  if (options_.swap_policy == SwapPolicy::kContinue) return;
  // kRestart: nothing computed with the old weights survives. Samples in
  // flight go back to their prompt's queue; prompt prefixes are recomputed.
  auto requeue = [&](std::unique_ptr<Sequence> s) {
    if (s->seq_id >= 0) ReturnSeqId(s->seq_id);
    s->r->todo.push_front(s->sample_index);
    if (!s->r->in_active) {
      s->r->in_active = true;
      active_.push_front(s->r);
    }
    ++stats_.restarts_after_swap;
  };
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) requeue(std::move(*it));
  running_.clear();
  while (!preempted_.empty()) {
    requeue(std::move(preempted_.back()));
    preempted_.pop_back();
  }
  for (auto& r : active_) {
    if (r->prefix_seq >= 0) ReturnSeqId(r->prefix_seq);
    r->prefix_seq = -1;
    r->prompt_logits.clear();
    // Restore ascending sample order for a deterministic restart.
    std::sort(r->todo.begin(), r->todo.end());
  }
}

std::unique_ptr<Engine::Sequence> Engine::StartSample(const std::shared_ptr<Request>& r, int64_t sample_index) {
  auto s = std::make_unique<Sequence>();
  s->r = r;
  s->sample_index = sample_index;
  s->admitted = Clock::now();
  s->seen = r->prompt_seen;
  if (r->req.stream_seeds.empty()) {
    s->stream_seed = SampleStreamSeed(r->req.params.seed, r->key, static_cast<uint32_t>(sample_index));
  } else {
    const auto at = std::find(r->req.sample_indices.begin(), r->req.sample_indices.end(), sample_index);
    s->stream_seed = r->req.stream_seeds[static_cast<size_t>(at - r->req.sample_indices.begin())];
  }
  if (tokenizer_ != nullptr) s->detok = std::make_unique<StreamingDetokenizer>(*tokenizer_, /*skip_special=*/true);
  return s;
}

void Engine::Prefill(const std::vector<std::shared_ptr<Request>>& prompts,
                     const std::vector<std::unique_ptr<Sequence>>& resumed) {
  std::vector<std::vector<int64_t>> rows;
  std::vector<int64_t> seqs;
  for (const auto& r : prompts) {
    rows.push_back(r->req.prompt_ids);
    seqs.push_back(r->prefix_seq);
  }
  for (const auto& s : resumed) {
    // Everything but the last drawn token, which the next decode step feeds.
    std::vector<int64_t> ids = s->r->req.prompt_ids;
    ids.insert(ids.end(), s->out.begin(), s->out.end() - 1);
    rows.push_back(std::move(ids));
    seqs.push_back(s->seq_id);
  }
  if (rows.empty()) return;
  int64_t T = 0;
  for (const auto& row : rows) T = std::max<int64_t>(T, static_cast<int64_t>(row.size()));
  at::Tensor ids = at::zeros({static_cast<int64_t>(rows.size()), T}, at::kLong);
  std::vector<int64_t> num_new;
  int64_t* p = ids.data_ptr<int64_t>();
  for (size_t b = 0; b < rows.size(); ++b) {
    std::copy(rows[b].begin(), rows[b].end(), p + b * T);
    num_new.push_back(static_cast<int64_t>(rows[b].size()));
    stats_.prefill_tokens += num_new.back();
  }
  // The sampler reads logits on the host; on CUDA this is the step's one
  // device-to-host copy (a no-op on CPU).
  const Clock::time_point t0 = Clock::now();
  at::Tensor logits = model_->Extend(*cache_, seqs, ids, num_new).to(at::kCPU).contiguous();
  stats_.prefill_seconds += SecondsSince(t0, Clock::now());
  const int64_t V = logits.size(1);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const float* row = logits.data_ptr<float>() + static_cast<int64_t>(i) * V;
    prompts[i]->prompt_logits.assign(row, row + V);
    ++stats_.prompts_prefilled;
  }
}

void Engine::Admit(const DoneCallback& on_done) {
  {
    absl::MutexLock lock(&mu_);
    for (auto& r : submitted_) {
      r->in_active = true;
      active_.push_back(std::move(r));
    }
    submitted_.clear();
  }
  int64_t slots = options_.max_seqs - static_cast<int64_t>(running_.size());
  int64_t budget = options_.max_prefill_tokens;
  std::vector<std::unique_ptr<Sequence>> resumed;
  std::vector<std::shared_ptr<Request>> prompts;
  bool blocked = false;
  // Preempted sequences resume first, oldest preemption last in line.
  while (!preempted_.empty() && slots > 0) {
    Sequence& s = *preempted_.front();
    const int64_t tokens = static_cast<int64_t>(s.r->req.prompt_ids.size() + s.out.size()) - 1;
    if (!resumed.empty() && tokens > budget) break;
    const int64_t id = TakeSeqId();
    if (id < 0) break;
    if (!cache_->Reserve(id, tokens + 1)) {
      ReturnSeqId(id);
      blocked = true;
      break;
    }
    s.seq_id = id;
    resumed.push_back(std::move(preempted_.front()));
    preempted_.pop_front();
    --slots;
    budget -= tokens;
  }
  // New prompts, strictly first come first served: a prompt that does not
  // fit blocks those behind it, so long prompts are not starved.
  if (preempted_.empty() && !blocked) {
    for (auto& r : active_) {
      if (slots <= 0) break;
      if (r->prefix_seq < 0) {
        const int64_t tokens = static_cast<int64_t>(r->req.prompt_ids.size());
        if (!(prompts.empty() && resumed.empty()) && tokens > budget) break;
        const int64_t id = TakeSeqId();
        if (id < 0) break;
        if (!cache_->Reserve(id, tokens)) {
          ReturnSeqId(id);
          break;
        }
        r->prefix_seq = id;
        prompts.push_back(r);
        budget -= tokens;
      }
      slots -= std::min<int64_t>(slots, static_cast<int64_t>(r->todo.size()));
    }
  }
  Prefill(prompts, resumed);
  for (auto& s : resumed) running_.push_back(std::move(s));

  // Start samples from prefilled prompts while slots and blocks last.
  while (!active_.empty() && static_cast<int64_t>(running_.size()) < options_.max_seqs) {
    std::shared_ptr<Request> r = active_.front();
    if (r->prefix_seq < 0) break;
    if (r->todo.empty()) {
      ReturnSeqId(r->prefix_seq);
      r->prefix_seq = -1;
      r->prompt_logits.clear();
      r->prompt_logits.shrink_to_fit();
      r->in_active = false;
      active_.pop_front();
      continue;
    }
    const int64_t id = TakeSeqId();
    if (id < 0) break;
    if (!cache_->Fork(r->prefix_seq, id)) {
      free_seq_ids_.push_back(id);
      break;
    }
    std::unique_ptr<Sequence> s = StartSample(r, r->todo.front());
    r->todo.pop_front();
    s->seq_id = id;
    std::vector<float> logits = r->prompt_logits;
    TokenLogprobs lp;
    const SampledToken t = Draw(*s, logits.data(), samplers_[0], &lp);
    const std::string reason = Accept(*s, t, std::move(lp));
    if (!reason.empty()) {
      Finish(std::move(s), reason, on_done);  // finished on its first token
      continue;
    }
    running_.push_back(std::move(s));
  }
}

SampledToken Engine::Draw(const Sequence& s, float* logits, TokenSampler& sampler, TokenLogprobs* lp) const {
  const Request& r = *s.r;
  const SamplingParams& p = r.req.params;
  const int64_t step = static_cast<int64_t>(s.out.size());
  const int64_t V = config_.vocab_size;
  // Raw logprobs come from the logits as the model gave them, so they are
  // taken before anything below changes the row.
  double log_z = 0;
  std::vector<float> raw;
  if (p.logprobs >= 0) {
    raw.assign(logits, logits + V);
    const float mx = *std::max_element(raw.begin(), raw.end());
    double sum = 0;
    for (float x : raw) sum += std::exp(static_cast<double>(x - mx));
    log_z = static_cast<double>(mx) + std::log(sum);
    if (p.logprobs > 0) {
      std::vector<int64_t> order(static_cast<size_t>(V));
      for (int64_t i = 0; i < V; ++i) order[i] = i;
      const int64_t k = std::min<int64_t>(p.logprobs, V);
      // Ties go to the lower id, so the list does not depend on the sort.
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&](int64_t a, int64_t b) { return raw[a] > raw[b] || (raw[a] == raw[b] && a < b); });
      for (int64_t i = 0; i < k; ++i) {
        lp->top.emplace_back(order[i], static_cast<float>(raw[order[i]] - log_z));
      }
    }
  }
  const double u = p.greedy() ? 0.0 : StreamUniform(s.stream_seed, static_cast<uint32_t>(step));
  if (step < p.min_tokens) {
    // vLLM's min_tokens: the stop ids cannot be drawn yet.
    for (int64_t id : r.stop_ids) logits[id] = -std::numeric_limits<float>::infinity();
  }
  const SampledToken t = sampler.Sample(logits, V, p, s.seen, u);
  if (p.logprobs >= 0) {
    lp->id = t.id;
    lp->logprob = static_cast<float>(raw[t.id] - log_z);
  }
  return t;
}

std::string Engine::Accept(Sequence& s, const SampledToken& t, TokenLogprobs lp) {
  static const std::vector<std::string> kNoStops;
  const Request& r = *s.r;
  const SamplingParams& p = r.req.params;
  const int64_t step = static_cast<int64_t>(s.out.size());
  s.out.push_back(t.id);
  if (p.repetition_penalty != 1.0) {
    auto at = std::lower_bound(s.seen.begin(), s.seen.end(), t.id);
    if (at == s.seen.end() || *at != t.id) s.seen.insert(at, t.id);
  }
  s.logprob += t.logprob;
  ++stats_.generated_tokens;
  if (step == 0) s.first_token = Clock::now();
  std::string reason;
  if (std::binary_search(r.stop_ids.begin(), r.stop_ids.end(), t.id)) {
    reason = "stop";
  } else if (s.detok != nullptr) {
    absl::StatusOr<std::string> piece = s.detok->Add(static_cast<int32_t>(t.id));
    if (piece.ok() && !piece->empty()) {
      const size_t old = s.text.size();
      s.text += *piece;
      // Before min_tokens no stop string ends the text (vLLM's rule).
      for (const std::string& stop : step + 1 < p.min_tokens ? kNoStops : p.stop) {
        const size_t from = old >= stop.size() ? old - stop.size() + 1 : 0;
        const size_t at = s.text.find(stop, from);
        if (at != std::string::npos) {
          s.text.resize(at);
          s.text_cut = true;
          reason = "stop";
          break;
        }
      }
    }
  }
  const int64_t total = static_cast<int64_t>(r.req.prompt_ids.size() + s.out.size());
  if (reason.empty() && (step + 1 >= p.max_tokens || total >= context_len_)) reason = "length";
  if (p.logprobs >= 0) s.logprobs.push_back(std::move(lp));
  if (r.req.on_token) {
    TokenEvent e;
    e.sample_index = s.sample_index;
    e.token_id = t.id;
    e.text = &s.text;
    e.logprobs = p.logprobs >= 0 ? &s.logprobs.back() : nullptr;
    r.req.on_token(e);
  }
  return reason;
}

void Engine::Finish(std::unique_ptr<Sequence> s, const std::string& reason, const DoneCallback& on_done) {
  if (s->seq_id >= 0) ReturnSeqId(s->seq_id);
  const Clock::time_point now = Clock::now();
  SampleResult out;
  out.prompt_id = s->r->req.id;
  out.sample_index = s->sample_index;
  out.ids = std::move(s->out);
  out.text = std::move(s->text);
  // Bytes held back for an incomplete character end the text as U+FFFD,
  // unless a stop string already cut it.
  if (s->detok != nullptr && !s->text_cut) out.text += s->detok->Finish();
  out.finish_reason = reason;
  out.num_tokens = static_cast<int64_t>(out.ids.size());
  out.cumulative_logprob = s->logprob;
  out.logprobs = std::move(s->logprobs);
  out.weights_version = version_;
  out.queue_s = SecondsSince(s->r->submitted, s->admitted);
  out.first_token_s = SecondsSince(s->r->submitted, s->first_token);
  out.total_s = SecondsSince(s->r->submitted, now);
  ++stats_.samples_finished;
  on_done(std::move(out));
}

void Engine::Preempt(std::unique_ptr<Sequence> s) {
  ReturnSeqId(s->seq_id);
  s->seq_id = -1;
  ++stats_.preemptions;
  preempted_.push_front(std::move(s));
}

void Engine::Decode(const DoneCallback& on_done) {
  // Room for one more position in every running sequence, oldest first;
  // when the pool is full, idle prompt prefixes go first, then the newest
  // sequences are preempted.
  for (size_t i = 0; i < running_.size();) {
    Sequence& s = *running_[i];
    if (cache_->Reserve(s.seq_id, cache_->length(s.seq_id) + 1)) {
      ++i;
      continue;
    }
    bool dropped = false;
    for (auto it = active_.rbegin(); it != active_.rend() && !dropped; ++it) {
      if ((*it)->prefix_seq >= 0) {
        ReturnSeqId((*it)->prefix_seq);
        (*it)->prefix_seq = -1;
        (*it)->prompt_logits.clear();
        dropped = true;
      }
    }
    if (dropped) continue;
    if (i + 1 < running_.size()) {
      Preempt(std::move(running_.back()));
      running_.pop_back();
      continue;
    }
    std::unique_ptr<Sequence> self = std::move(running_[i]);
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
    if (i == 0) {
      // Alone it fills the whole KV budget: it cannot grow any further.
      Finish(std::move(self), "length", on_done);
    } else {
      Preempt(std::move(self));
    }
  }
  if (running_.empty()) return;
  const int64_t B = static_cast<int64_t>(running_.size());
  at::Tensor ids = at::empty({B, 1}, at::kLong);
  std::vector<int64_t> seqs(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    ids.data_ptr<int64_t>()[b] = running_[b]->out.back();
    seqs[b] = running_[b]->seq_id;
  }
  const Clock::time_point t0 = Clock::now();
  at::Tensor logits =
      model_->Extend(*cache_, seqs, ids, std::vector<int64_t>(static_cast<size_t>(B), 1)).to(at::kCPU).contiguous();
  const Clock::time_point t1 = Clock::now();
  stats_.forward_seconds += SecondsSince(t0, t1);
  const int64_t V = logits.size(1);
  // Drawing is independent per row (each row has its own random stream), so
  // rows are drawn in parallel; at a 150k vocabulary each draw scans the
  // whole row. Bookkeeping (text, stops) stays sequential.
  std::vector<SampledToken> drawn(static_cast<size_t>(B));
  std::vector<TokenLogprobs> drawn_lp(static_cast<size_t>(B));
  float* rows = logits.data_ptr<float>();
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    TokenSampler& sampler = samplers_[static_cast<size_t>(at::get_thread_num()) % samplers_.size()];
    for (int64_t b = begin; b < end; ++b) drawn[b] = Draw(*running_[b], rows + b * V, sampler, &drawn_lp[b]);
  });
  stats_.draw_seconds += SecondsSince(t1, Clock::now());
  std::vector<std::unique_ptr<Sequence>> still;
  still.reserve(running_.size());
  for (int64_t b = 0; b < B; ++b) {
    const std::string reason = Accept(*running_[b], drawn[b], std::move(drawn_lp[b]));
    if (!reason.empty()) {
      Finish(std::move(running_[b]), reason, on_done);
    } else {
      still.push_back(std::move(running_[b]));
    }
  }
  running_ = std::move(still);
}

bool Engine::Step(const DoneCallback& on_done) {
  at::NoGradGuard no_grad;
  // One sampler (scratch buffers) per thread that may draw.
  if (samplers_.size() < static_cast<size_t>(at::get_num_threads())) {
    samplers_.resize(static_cast<size_t>(at::get_num_threads()));
  }
  ApplyPendingSwap();
  ApplyCancels();
  if (!HasWork()) {
    if (stats_.running != 0 || stats_.waiting_samples != 0) {
      // Idle after cancels: say so.
      stats_.running = 0;
      stats_.waiting_samples = 0;
      absl::MutexLock lock(&mu_);
      published_stats_ = stats_;
    }
    return false;
  }
  const Clock::time_point t0 = Clock::now();
  Admit(on_done);
  Decode(on_done);
  stats_.step_seconds += SecondsSince(t0, Clock::now());
  stats_.peak_kv_blocks = cache_->peak_used_blocks();
  stats_.running = static_cast<int64_t>(running_.size());
  int64_t waiting = static_cast<int64_t>(preempted_.size());
  for (const auto& r : active_) waiting += static_cast<int64_t>(r->todo.size());
  absl::MutexLock lock(&mu_);
  for (const auto& r : submitted_) waiting += static_cast<int64_t>(r->todo.size());
  stats_.waiting_samples = waiting;
  published_stats_ = stats_;
  return true;
}

void Engine::RunUntilDone(const DoneCallback& on_done) {
  while (Step(on_done)) {
  }
}

}  // namespace ssd
