// Synthetic training data for the trainer's tests.
#ifndef SSD_TRAINER_WORKER_TEST_EXAMPLES_H_
#define SSD_TRAINER_WORKER_TEST_EXAMPLES_H_

#include <cstdint>
#include <random>
#include <vector>

#include "trainer_worker/sft_dataset.h"

namespace ssd {

// 48 conversations of 6..24 tokens (or all `fixed_len`); the first third of
// each is the "prompt". Each token follows from the previous one, so the
// pattern is learnable.
inline std::vector<TokenizedExample> SyntheticExamples(int64_t vocab, int fixed_len = 0) {
  std::mt19937 rng(3);
  std::vector<TokenizedExample> out;
  for (int i = 0; i < 48; ++i) {
    TokenizedExample ex;
    const int len = fixed_len > 0 ? fixed_len : 6 + static_cast<int>(rng() % 19);
    for (int t = 0; t < len; ++t) {
      const int32_t id =
          t == 0 ? static_cast<int32_t>(rng() % vocab) : (ex.ids.back() * 7 + 3) % static_cast<int32_t>(vocab);
      ex.ids.push_back(id);
      ex.loss_mask.push_back(t >= len / 3 ? 1 : 0);
    }
    ex.line = i + 1;
    out.push_back(std::move(ex));
  }
  return out;
}

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_TEST_EXAMPLES_H_
