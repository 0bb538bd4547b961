#include "common/model/moe_routing.h"

#include <algorithm>
#include <cmath>

namespace ssd {
namespace cpu {

void RouteRow(const float* logits, int64_t E, int64_t k, bool norm_topk_prob, float* probs, int32_t* experts,
              float* weights) {
  float max = logits[0];
  for (int64_t e = 1; e < E; ++e) max = std::max(max, logits[e]);
  float sum = 0;
  for (int64_t e = 0; e < E; ++e) {
    probs[e] = std::exp(logits[e] - max);
    sum += probs[e];
  }
  for (int64_t e = 0; e < E; ++e) probs[e] /= sum;
  // k passes of an arg-max (k is small: 8 of 128 in Qwen3-30B-A3B); a
  // chosen expert is marked with -1, below every probability.
  for (int64_t j = 0; j < k; ++j) {
    int64_t best = -1;
    for (int64_t e = 0; e < E; ++e) {
      if (probs[e] >= 0 && (best < 0 || probs[e] > probs[best])) best = e;
    }
    experts[j] = static_cast<int32_t>(best);
    weights[j] = probs[best];
    probs[best] = -1;
  }
  if (norm_topk_prob) {
    float total = 0;
    for (int64_t j = 0; j < k; ++j) total += weights[j];
    for (int64_t j = 0; j < k; ++j) weights[j] /= total;
  }
}

void GroupByExpert(const int32_t* experts, int64_t rows, int64_t k, int64_t E, std::vector<int64_t>* offsets,
                   std::vector<int64_t>* order, std::vector<int64_t>* slot) {
  offsets->assign(static_cast<size_t>(E + 1), 0);
  const int64_t A = rows * k;
  for (int64_t a = 0; a < A; ++a) ++(*offsets)[static_cast<size_t>(experts[a]) + 1];
  for (int64_t e = 0; e < E; ++e) (*offsets)[e + 1] += (*offsets)[e];
  order->resize(static_cast<size_t>(A));
  std::vector<int64_t> next(offsets->begin(), offsets->end() - 1);
  slot->resize(static_cast<size_t>(A));
  for (int64_t a = 0; a < A; ++a) {
    const int64_t p = next[static_cast<size_t>(experts[a])]++;
    (*order)[static_cast<size_t>(p)] = a;
    (*slot)[static_cast<size_t>(a)] = p;
  }
}

void CombineExpertRow(const int32_t* experts, const float* weights, const int64_t* slot, int64_t k, const float* y,
                      int64_t ldy, int64_t H, float* out) {
  // The row's choices by ascending expert (k is small).
  int64_t js[64];
  const int64_t n = std::min<int64_t>(k, 64);
  for (int64_t j = 0; j < n; ++j) js[j] = j;
  std::sort(js, js + n, [&](int64_t a, int64_t b) { return experts[a] < experts[b]; });
  std::fill(out, out + H, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = js[i];
    const float w = weights[j];
    const float* row = y + slot[j] * ldy;
    for (int64_t h = 0; h < H; ++h) {
      const float term = row[h] * w;
      out[h] = out[h] + term;
    }
  }
}

}  // namespace cpu
}  // namespace ssd
