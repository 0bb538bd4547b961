#include "common/analysis/next_token_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ssd {

absl::StatusOr<NextTokenStats> ComputeNextTokenStats(const float* logits, int64_t vocab, int64_t token, int64_t top_k) {
  if (vocab <= 0) return absl::InvalidArgumentError(absl::StrCat("vocab must be positive, got ", vocab));
  if (token < 0 || token >= vocab) {
    return absl::InvalidArgumentError(absl::StrCat("token ", token, " is outside the vocabulary [0, ", vocab, ")"));
  }
  if (top_k < 1 || top_k > vocab) {
    return absl::InvalidArgumentError(absl::StrCat("top_k must be in [1, ", vocab, "], got ", top_k));
  }
  double max_logit = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i) {
    if (!std::isfinite(logits[i])) {
      return absl::InvalidArgumentError(absl::StrCat("logit ", i, " is not finite (", logits[i], ")"));
    }
    max_logit = std::max(max_logit, static_cast<double>(logits[i]));
  }
  // p_i = exp(l_i - m) / Z; log p_i = (l_i - m) - log Z. Sums in double.
  std::vector<double> shifted(static_cast<size_t>(vocab));
  double z = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    shifted[i] = static_cast<double>(logits[i]) - max_logit;
    z += std::exp(shifted[i]);
  }
  const double log_z = std::log(z);
  NextTokenStats s;
  for (int64_t i = 0; i < vocab; ++i) {
    const double lp = shifted[i] - log_z;
    s.entropy -= std::exp(lp) * lp;
  }
  s.token_prob = std::exp(shifted[token] - log_z);

  std::vector<int64_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  auto higher = [&](int64_t a, int64_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(order.begin(), order.begin() + top_k, order.end(), higher);
  s.argmax = order[0];
  // Both sums directly, so a tail of 1e-9 is not lost in 1 - head.
  double head = 0;
  for (int64_t r = 0; r < top_k; ++r) head += std::exp(shifted[order[r]] - log_z);
  for (int64_t r = top_k; r < vocab; ++r) s.tail_mass += std::exp(shifted[order[r]] - log_z);
  // Head entropy: q_i = p_i / head over the top k; log q_i = log p_i - log head.
  const double log_head = std::log(head);
  for (int64_t r = 0; r < top_k; ++r) {
    const double lq = shifted[order[r]] - log_z - log_head;
    s.head_entropy -= std::exp(lq) * lq;
  }
  s.top1_share = std::exp(shifted[order[0]] - log_z - log_head);
  return s;
}

}  // namespace ssd
