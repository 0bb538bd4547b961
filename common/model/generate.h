// Greedy decoding with the KV cache, for `ssd model generate` and as the
// ground truth the sampling engine's temperature-0 path must match.
#ifndef SSD_COMMON_MODEL_GENERATE_H_
#define SSD_COMMON_MODEL_GENERATE_H_

#include <cstdint>
#include <vector>

#include "common/model/decoder.h"

namespace ssd {

struct GreedyOptions {
  int64_t max_new_tokens = 16;
  // Stop after emitting one of these (the stop token is included in the
  // output, as transformers does). Empty: never stop early.
  std::vector<int64_t> stop_token_ids;
};

// Prefills `prompt_ids` (non-empty, ids < vocab_size) into a fresh cache, then
// appends argmax tokens one at a time. Returns only the generated ids.
std::vector<int64_t> GreedyGenerate(const Decoder& model, const std::vector<int64_t>& prompt_ids,
                                    const GreedyOptions& options);

// The same result computed without a cache: a full forward over the whole
// sequence at every step. O(n^2); for tests.
std::vector<int64_t> GreedyGenerateByRecompute(const Decoder& model, const std::vector<int64_t>& prompt_ids,
                                               const GreedyOptions& options);

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_GENERATE_H_
