#include "common/analysis/mechanism.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/eval/model_eval.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

// Logits are computed this many positions at a time, so a long solution
// with a large vocabulary (Qwen's 151k) does not materialise [T, V] at once.
constexpr int64_t kLogitChunk = 256;

// Both models' view of the token after prompt + completion[0..i), for every i.
absl::StatusOr<std::vector<NextTokenStats>> ScorePositions(const Decoder& model, const std::vector<int64_t>& prompt,
                                                           const std::vector<int64_t>& completion, int64_t top_k) {
  std::vector<int64_t> ids = prompt;
  ids.insert(ids.end(), completion.begin(), completion.end());
  const int64_t n = static_cast<int64_t>(ids.size());
  const int64_t p = static_cast<int64_t>(prompt.size());
  const int64_t c = static_cast<int64_t>(completion.size());
  if (n > model.config().max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrCat(n, " tokens exceed the model's context of ", model.config().max_position_embeddings));
  }
  at::Tensor hidden = model.ForwardHidden(at::tensor(ids, at::kLong).view({1, n}))[0];
  const int64_t vocab = model.config().vocab_size;
  std::vector<NextTokenStats> out;
  out.reserve(static_cast<size_t>(c));
  // The logits at position p - 1 + i predict completion[i].
  for (int64_t begin = 0; begin < c; begin += kLogitChunk) {
    const int64_t len = std::min(kLogitChunk, c - begin);
    at::Tensor logits = model.Logits(hidden.slice(0, p - 1 + begin, p - 1 + begin + len)).to(at::kCPU).contiguous();
    const float* rows = logits.data_ptr<float>();
    for (int64_t i = 0; i < len; ++i) {
      absl::StatusOr<NextTokenStats> s = ComputeNextTokenStats(rows + i * vocab, vocab, completion[begin + i], top_k);
      if (!s.ok()) return absl::InternalError(absl::StrCat("completion token ", begin + i, ": ", s.status().message()));
      out.push_back(*s);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<MechanismReport> AnalyzeMechanism(Engine& base_engine, const Decoder& base, const Decoder& tuned,
                                                 const Tokenizer& tokenizer, const ChatTemplate* chat,
                                                 const PromptTemplates& templates, const Benchmark& benchmark,
                                                 const MechanismOptions& options,
                                                 const std::function<void(const std::string&)>& progress) {
  const ModelConfig& bc = base.config();
  const ModelConfig& tc = tuned.config();
  RETURN_IF_ERROR(options.Validate(bc.vocab_size));
  if (tc.vocab_size != bc.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("the tuned model's vocab_size is ", tc.vocab_size,
                                                   " but the base's is ", bc.vocab_size,
                                                   ": the two must share a tokenizer"));
  }
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  MechanismReport report;
  report.options = options;
  size_t problems = benchmark.problems.size();
  if (options.max_problems > 0) problems = std::min(problems, static_cast<size_t>(options.max_problems));

  std::map<std::string, std::vector<int64_t>> prompts;  // question_id -> prompt ids
  std::map<std::pair<std::string, int64_t>, std::vector<int64_t>> completions;
  for (size_t i = 0; i < problems; ++i) {
    const Problem& p = benchmark.problems[i];
    absl::StatusOr<std::vector<int64_t>> ids = EncodeProblemPrompt(tokenizer, chat, templates, p);
    absl::Status status = ids.status();
    if (status.ok()) {
      GenerationRequest r;
      r.id = p.question_id;
      r.prompt_ids = *ids;
      r.params = options.params;
      status = base_engine.Submit(std::move(r));
    }
    if (status.ok()) {
      prompts[p.question_id] = *std::move(ids);
    } else {
      report.errors.push_back(absl::StrCat(p.question_id, ": ", status.message()));
    }
  }
  say(absl::StrFormat("sampling %d solutions from the base", prompts.size() * static_cast<size_t>(options.params.n)));
  base_engine.RunUntilDone([&](SampleResult r) { completions[{r.prompt_id, r.sample_index}] = std::move(r.ids); });

  at::NoGradGuard no_grad;
  say(absl::StrFormat("scoring %d solutions with both models", completions.size()));
  // Benchmark order, then sample order.
  for (size_t i = 0; i < problems; ++i) {
    const std::string& id = benchmark.problems[i].question_id;
    auto prompt = prompts.find(id);
    if (prompt == prompts.end()) continue;
    for (int64_t s = 0; s < options.params.n; ++s) {
      auto done = completions.find({id, s});
      if (done == completions.end() || done->second.empty()) continue;
      ScoredSolution sol;
      sol.question_id = id;
      sol.sample_index = s;
      sol.prompt_ids = prompt->second;
      sol.completion_ids = done->second;
      absl::StatusOr<std::vector<NextTokenStats>> b =
          ScorePositions(base, sol.prompt_ids, sol.completion_ids, options.top_k);
      if (!b.ok()) {
        report.errors.push_back(absl::StrCat(id, " sample ", s, ", base: ", b.status().message()));
        continue;
      }
      absl::StatusOr<std::vector<NextTokenStats>> t =
          ScorePositions(tuned, sol.prompt_ids, sol.completion_ids, options.top_k);
      if (!t.ok()) {
        report.errors.push_back(absl::StrCat(id, " sample ", s, ", tuned: ", t.status().message()));
        continue;
      }
      sol.base = *std::move(b);
      sol.tuned = *std::move(t);
      report.solutions.push_back(std::move(sol));
    }
  }
  if (report.solutions.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no solution could be sampled and scored",
                     report.errors.empty() ? std::string() : absl::StrCat(": ", report.errors.front())));
  }
  SummarizeMechanism(report);
  return report;
}

}  // namespace ssd
