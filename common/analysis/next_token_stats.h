// NextTokenStats: how a model's next-token distribution is shaped at one
// position, the quantities SSD's mechanism is described in (the paper's
// "lock" and "fork" tokens):
//
//   entropy       -sum p log p of the full softmax at temperature 1, in nats;
//   tail_mass     the probability outside the top k tokens: what top-k
//                 truncation cuts, and what T = 1 sampling can derail on;
//   head_entropy  the entropy of the top k tokens renormalised: the model's
//                 uncertainty among its plausible continuations, tail aside;
//   top1_share    the top token's share of the top-k mass;
//   token_prob    the probability of the token that was actually there.
//
// Ties are broken toward the lower token id, both for the top-k set and for
// argmax, so the statistics do not depend on the order of equal logits.
// Torch-free: the caller passes one row of float logits.
#ifndef SSD_COMMON_ANALYSIS_NEXT_TOKEN_STATS_H_
#define SSD_COMMON_ANALYSIS_NEXT_TOKEN_STATS_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace ssd {

struct NextTokenStats {
  double entropy = 0;
  double tail_mass = 0;
  double head_entropy = 0;
  double top1_share = 0;
  double token_prob = 0;
  int64_t argmax = 0;
};

// `logits` has `vocab` entries; `token` is in [0, vocab); top_k in
// [1, vocab]. A non-finite logit is InvalidArgument naming its index (a
// model that produced one is broken, and its statistics would be noise).
absl::StatusOr<NextTokenStats> ComputeNextTokenStats(const float* logits, int64_t vocab, int64_t token, int64_t top_k);

}  // namespace ssd

#endif  // SSD_COMMON_ANALYSIS_NEXT_TOKEN_STATS_H_
