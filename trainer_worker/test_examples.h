// Synthetic training data, settings and rank threads for the trainer's
// tests.
#ifndef SSD_TRAINER_WORKER_TEST_EXAMPLES_H_
#define SSD_TRAINER_WORKER_TEST_EXAMPLES_H_

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "trainer_worker/sft_dataset.h"
#include "trainer_worker/trainer.h"

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

// Settings for SyntheticExamples(97) on a TinyConfig model: 6 epochs of
// 256-token steps in 64-token micro-batches, warmup, weight decay and
// clipping on.
inline TrainerOptions SyntheticTrainerOptions(const std::string& out_dir) {
  TrainerOptions o;
  o.out_dir = out_dir;
  o.epochs = 6;
  o.max_seq_len = 32;
  o.batching.micro_batch_tokens = 64;
  o.batching.batch_tokens = 256;
  o.batching.seed = 11;
  o.lr = 3e-3;
  o.warmup_steps = 3;
  o.adamw.weight_decay = 0.01;
  o.grad_clip = 1.0;
  o.progress = false;
  return o;
}

// n floats drawn from a generator seeded by (salt, rank): one rank's input.
inline at::Tensor RankData(int rank, int64_t n, uint64_t salt) {
  at::Generator gen = at::detail::createCPUGenerator(1000 * salt + rank);
  return at::randn({n}, gen, at::kFloat);
}

// Runs body(r) for r in [0, world): rank 0 on this thread, the others on
// threads of their own, and joins them.
template <typename F>
void OnRanks(int world, F body) {
  std::vector<std::thread> peers;
  for (int r = 1; r < world; ++r) peers.emplace_back([&body, r] { body(r); });
  body(0);
  for (auto& t : peers) t.join();
}

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_TEST_EXAMPLES_H_
