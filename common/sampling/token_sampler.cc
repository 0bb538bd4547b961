#include "common/sampling/token_sampler.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

namespace ssd {
namespace {

// Descending logit, then ascending id: a strict total order, so every
// selection and sort below is deterministic even with tied logits.
struct ByLogitDesc {
  const float* l;
  bool operator()(int32_t a, int32_t b) const { return l[a] > l[b] || (l[a] == l[b] && a < b); }
};

void ApplyRepetitionPenalty(float* logits, int64_t vocab, double penalty,
                            const std::vector<int64_t>& seen, std::vector<int32_t>* scratch) {
  if (penalty == 1.0 || seen.empty()) return;
  // Each distinct token is penalised once, however often it occurred.
  scratch->assign(seen.begin(), seen.end());
  std::sort(scratch->begin(), scratch->end());
  scratch->erase(std::unique(scratch->begin(), scratch->end()), scratch->end());
  const float r = static_cast<float>(penalty);
  for (int32_t id : *scratch) {
    if (id < 0 || id >= vocab) continue;
    float& l = logits[id];
    l = l > 0 ? l / r : l * r;
  }
}

}  // namespace

void TokenSampler::Truncate(float* logits, int64_t vocab, const SamplingParams& params,
                            const std::vector<int64_t>& seen, TruncatedDistribution* out) {
  CHECK(!params.greedy());
  ApplyRepetitionPenalty(logits, vocab, params.repetition_penalty, seen, &order_);
  const float t = static_cast<float>(params.temperature);
  for (int64_t i = 0; i < vocab; ++i) logits[i] /= t;

  // Top-k: the k-th largest logit is the threshold.
  std::vector<int32_t>& cand = order_;
  cand.clear();
  const bool top_k_on = params.top_k > 0 && params.top_k < vocab;
  if (top_k_on) {
    const size_t k = static_cast<size_t>(params.top_k);
    // A min-heap of the k largest values seen so far.
    heap_vals_.assign(logits, logits + k);
    std::make_heap(heap_vals_.begin(), heap_vals_.end(), std::greater<float>());
    for (int64_t i = static_cast<int64_t>(k); i < vocab; ++i) {
      if (logits[i] > heap_vals_.front()) {
        std::pop_heap(heap_vals_.begin(), heap_vals_.end(), std::greater<float>());
        heap_vals_.back() = logits[i];
        std::push_heap(heap_vals_.begin(), heap_vals_.end(), std::greater<float>());
      }
    }
    const float threshold = heap_vals_.front();
    for (int64_t i = 0; i < vocab; ++i) {
      if (logits[i] >= threshold) cand.push_back(static_cast<int32_t>(i));
    }
  } else {
    cand.resize(static_cast<size_t>(vocab));
    std::iota(cand.begin(), cand.end(), 0);
  }

  float max_logit = -INFINITY;
  for (int32_t id : cand) max_logit = std::max(max_logit, logits[id]);
  auto weight = [&](int32_t id) { return std::exp(static_cast<double>(logits[id]) - max_logit); };
  const ByLogitDesc by_logit{logits};

  // Top-p keeps the shortest descending prefix whose mass reaches p: token
  // i stays iff the mass ranked above it is < p. Sorting the whole
  // vocabulary is slow, so sort a growing prefix until it covers p.
  size_t keep = cand.size();
  if (params.top_p < 1.0) {
    double total = 0;
    for (int32_t id : cand) total += weight(id);
    const double target = params.top_p * total;
    size_t m = std::min<size_t>(cand.size(), 256);
    while (true) {
      std::partial_sort(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(m), cand.end(), by_logit);
      double above = 0;
      size_t r = 0;
      for (; r < m && above < target; ++r) above += weight(cand[r]);
      if (above >= target || m == cand.size()) {
        keep = std::max<size_t>(r, 1);
        break;
      }
      m = std::min(cand.size(), m * 4);
    }
  } else if (cand.size() <= 4096) {
    std::sort(cand.begin(), cand.end(), by_logit);
  }
  cand.resize(keep);

  // Min-p relative to the most likely token (weight 1 after subtracting the
  // maximum logit, which every step above keeps).
  out->ids.clear();
  out->probs.clear();
  double sum = 0;
  for (int32_t id : cand) {
    const double w = weight(id);
    if (params.min_p > 0 && w < params.min_p) continue;
    out->ids.push_back(id);
    out->probs.push_back(w);
    sum += w;
  }
  for (double& p : out->probs) p /= sum;
}

SampledToken TokenSampler::Draw(const TruncatedDistribution& dist, double u) {
  CHECK(!dist.ids.empty());
  double cum = 0;
  for (size_t i = 0; i < dist.ids.size(); ++i) {
    cum += dist.probs[i];
    if (u < cum) return {dist.ids[i], std::log(dist.probs[i])};
  }
  // u within rounding of 1: the last kept token.
  return {dist.ids.back(), std::log(dist.probs.back())};
}

SampledToken TokenSampler::Sample(float* logits, int64_t vocab, const SamplingParams& params,
                                  const std::vector<int64_t>& seen, double u) {
  if (params.greedy()) {
    ApplyRepetitionPenalty(logits, vocab, params.repetition_penalty, seen, &order_);
    int64_t best = 0;
    for (int64_t i = 1; i < vocab; ++i) {
      if (logits[i] > logits[best]) best = i;
    }
    return {best, 0.0};
  }
  Truncate(logits, vocab, params, seen, &dist_);
  return Draw(dist_, u);
}

}  // namespace ssd
