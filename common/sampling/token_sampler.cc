#include "common/sampling/token_sampler.h"

#include <glog/logging.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "common/util/cpu_features.h"

namespace ssd {
namespace {

// Descending logit, then ascending id: a strict total order, so every
// selection and sort below is deterministic even with tied logits.
struct ByLogitDesc {
  const float* l;
  bool operator()(int32_t a, int32_t b) const { return l[a] > l[b] || (l[a] == l[b] && a < b); }
};

void ApplyRepetitionPenalty(float* logits, int64_t vocab, double penalty, const std::vector<int64_t>& seen,
                            std::vector<int32_t>* scratch) {
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

// Vector helpers over a whole row; each has a plain loop for CPUs without
// AVX2, with the same results (IEEE division rounds each lane alone).
__attribute__((target("avx2"))) void DivideAvx2(float* l, int64_t n, float t) {
  const __m256 vt = _mm256_set1_ps(t);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(l + i, _mm256_div_ps(_mm256_loadu_ps(l + i), vt));
  for (; i < n; ++i) l[i] /= t;
}

void Divide(float* l, int64_t n, float t) {
  if (CpuHasAvx2()) return DivideAvx2(l, n, t);
  for (int64_t i = 0; i < n; ++i) l[i] /= t;
}

// Bit j (j < 32) set iff l[j] compares to x as kCmp says (_CMP_GT_OQ: >,
// _CMP_GE_OQ: >=); never for NaN.
template <int kCmp>
__attribute__((target("avx2"))) inline uint32_t Mask32(const float* l, __m256 x) {
  uint32_t m = 0;
  for (int q = 0; q < 4; ++q) {
    const __m256 c = _mm256_cmp_ps(_mm256_loadu_ps(l + 8 * q), x, kCmp);
    m |= static_cast<uint32_t>(_mm256_movemask_ps(c)) << (8 * q);
  }
  return m;
}

// A min-heap of the k largest values seen so far (h[0] the smallest of
// them): Offer(x) replaces the minimum by x when x is above it. Both are
// inlined into the AVX2 scan: called from there as SSE code, each call
// would pay an SSE/AVX transition (measured: ~0.2 us per hit block).
__attribute__((always_inline)) inline void SiftDown(float* h, size_t k) {
  size_t i = 0;
  const float x = h[0];
  while (true) {
    size_t c = 2 * i + 1;
    if (c >= k) break;
    if (c + 1 < k && h[c + 1] < h[c]) ++c;
    if (!(h[c] < x)) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

__attribute__((always_inline)) inline void Offer(float x, std::vector<float>* heap) {
  if (x > heap->front()) {
    heap->front() = x;
    SiftDown(heap->data(), heap->size());
  }
}

// Blocks of 32 are compared at once; a long row's blocks mostly hold no
// value above the minimum. The heap ends as with one value at a time.
__attribute__((target("avx2"))) void HeapScanAvx2(const float* l, int64_t i, int64_t n, std::vector<float>* heap) {
  for (; i + 32 <= n; i += 32) {
    // Only the values above the minimum at the block's start can enter,
    // and they are offered in order.
    for (uint32_t m = Mask32<_CMP_GT_OQ>(l + i, _mm256_set1_ps(heap->front())); m != 0; m &= m - 1) {
      Offer(l[i + __builtin_ctz(m)], heap);
    }
  }
  for (; i < n; ++i) Offer(l[i], heap);
}

// The k-th largest of l[0, n) (0 < k < n), NaNs aside.
float KthLargest(const float* l, int64_t n, size_t k, std::vector<float>* heap) {
  heap->assign(l, l + k);
  std::make_heap(heap->begin(), heap->end(), std::greater<float>());
  if (CpuHasAvx2()) {
    HeapScanAvx2(l, static_cast<int64_t>(k), n, heap);
  } else {
    for (int64_t i = static_cast<int64_t>(k); i < n; ++i) Offer(l[i], heap);
  }
  return heap->front();
}

// Appends to `out` each i with l[i] >= lo, in order, for which keep(i) is
// true, comparing blocks of 32 at once.
template <typename Keep>
__attribute__((target("avx2"))) void CollectAvx2(const float* l, int64_t n, float lo, Keep keep,
                                                 std::vector<int32_t>* out) {
  const __m256 vlo = _mm256_set1_ps(lo);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (uint32_t m = Mask32<_CMP_GE_OQ>(l + i, vlo); m != 0; m &= m - 1) {
      const int64_t j = i + __builtin_ctz(m);
      if (keep(j)) out->push_back(static_cast<int32_t>(j));
    }
  }
  for (; i < n; ++i) {
    if (l[i] >= lo && keep(i)) out->push_back(static_cast<int32_t>(i));
  }
}

template <typename Keep>
void Collect(const float* l, int64_t n, float lo, Keep keep, std::vector<int32_t>* out) {
  if (CpuHasAvx2()) return CollectAvx2(l, n, lo, keep, out);
  for (int64_t i = 0; i < n; ++i) {
    if (l[i] >= lo && keep(i)) out->push_back(static_cast<int32_t>(i));
  }
}

}  // namespace

void TokenSampler::Truncate(float* logits, int64_t vocab, const SamplingParams& params,
                            const std::vector<int64_t>& seen, TruncatedDistribution* out) {
  CHECK(!params.greedy());
  ApplyRepetitionPenalty(logits, vocab, params.repetition_penalty, seen, &order_);
  const float t = static_cast<float>(params.temperature);

  // Top-k: the k-th largest of l / t is the threshold, and the candidates
  // are the ids at or above it.
  std::vector<int32_t>& cand = order_;
  cand.clear();
  const bool top_k_on = params.top_k > 0 && params.top_k < vocab;
  if (top_k_on) {
    const size_t k = static_cast<size_t>(params.top_k);
    // Dividing a whole row by t costs more than the rest together, and only
    // the candidates' quotients are needed. Rounded division by t > 0 never
    // reverses an order, so the k-th largest quotient is the quotient of the
    // k-th largest logit. A logit below that one can still round to the
    // same quotient, but only within a few ulps of it (both quotients are
    // normal floats): every id within 2^-10 of it, relatively, gets its
    // exact quotient compared. Elsewhere (zero, subnormal or non-finite
    // values) the whole row is divided first, as the steps above say.
    const float kth = KthLargest(logits, vocab, k, &heap_vals_);
    const float threshold = kth / t;
    if (std::isnormal(kth) && std::isnormal(threshold)) {
      const float lo = kth - std::fabs(kth) * 0x1p-10f;
      Collect(
          logits, vocab, lo,
          [&](int64_t i) {
            const float q = logits[i] / t;
            if (q < threshold) return false;
            logits[i] = q;
            return true;
          },
          &cand);
    } else {
      Divide(logits, vocab, t);
      const float exact = KthLargest(logits, vocab, k, &heap_vals_);
      Collect(
          logits, vocab, exact, [](int64_t) { return true; }, &cand);
    }
  } else {
    Divide(logits, vocab, t);
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
