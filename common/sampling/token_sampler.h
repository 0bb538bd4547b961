// TokenSampler: turns one row of logits into the next token, exactly as
// vLLM does (the SSD reference data was generated with vLLM).
//
// Order of the transformations, for logits l over the vocabulary:
//   1. repetition penalty r on every token already in the prompt or the
//      output: l <- l / r if l > 0, else l * r;
//   2. temperature t: l <- l / t (t == 0: greedy, return the argmax, the
//      lowest id among ties);
//   3. top-k: keep the k largest (ties at the k-th value are kept, as vLLM's
//      "logit >= k-th largest" mask does);
//   4. top-p on the softmax of what remains: sort descending and keep token
//      i iff the probability of the tokens ranked above it is < p (vLLM's
//      ascending-cumsum "<= 1 - p" mask, which always keeps the top token);
//   5. min-p: keep token i iff p_i >= min_p * p_max (the ratio does not
//      depend on renormalisation);
//   6. draw from the renormalised softmax of the kept tokens by inverting its
//      CDF at a uniform u in [0, 1), walking the kept tokens in descending
//      probability (ties by id) whenever top-p is on or at most 4096 remain,
//      else in id order (a full-vocabulary sort per token is too slow).
//
// The log-probability reported for the chosen token is under that final,
// truncated distribution (as vLLM v0's sampler reports it); greedy tokens
// report 0, the log-probability of a point mass.
//
// Not thread-safe (scratch buffers); use one per thread.
//
// Tuning note: with top-k on, only the ids near the k-th largest logit are
// divided by the temperature (rounded division keeps the order), and the
// row is compared 32 logits at a time. Drawing 32 rows of 32k logits fell
// from 12% to 4% of a concurrency-32 sampler_bench run: 57 to 7 us per row
// (2026-12-06, a 2-core VM with a 480 MiB L3). The kept set is the same as
// with whole-row division (tested, with ties planted where rounding makes
// them).
#ifndef SSD_COMMON_SAMPLING_TOKEN_SAMPLER_H_
#define SSD_COMMON_SAMPLING_TOKEN_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "common/sampling/sampling_params.h"

namespace ssd {

struct SampledToken {
  int64_t id = -1;
  double logprob = 0.0;
};

// The truncated distribution: kept token ids in descending probability and
// their renormalised probabilities.
struct TruncatedDistribution {
  std::vector<int32_t> ids;
  std::vector<double> probs;
};

class TokenSampler {
 public:
  // Applies steps 1-5 to logits[0, vocab), which it uses as scratch: after
  // it, the kept ids hold their penalised, divided logits and the others
  // are unspecified (with top-k on, only ids near the k-th are divided).
  // `seen` lists the token ids the repetition penalty applies to (duplicates
  // are fine); it is ignored when the penalty is 1. Not for greedy params.
  void Truncate(float* logits, int64_t vocab, const SamplingParams& params, const std::vector<int64_t>& seen,
                TruncatedDistribution* out);

  // The whole pipeline: greedy or truncate-and-draw with uniform `u`.
  SampledToken Sample(float* logits, int64_t vocab, const SamplingParams& params, const std::vector<int64_t>& seen,
                      double u);

  // Step 6 alone.
  static SampledToken Draw(const TruncatedDistribution& dist, double u);

 private:
  std::vector<int32_t> order_;
  std::vector<float> heap_vals_;
  TruncatedDistribution dist_;
};

}  // namespace ssd

#endif  // SSD_COMMON_SAMPLING_TOKEN_SAMPLER_H_
