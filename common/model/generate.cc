#include "common/model/generate.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <glog/logging.h>

#include <algorithm>

namespace ssd {
namespace {

bool IsStop(const GreedyOptions& options, int64_t id) {
  return std::find(options.stop_token_ids.begin(), options.stop_token_ids.end(), id) != options.stop_token_ids.end();
}

}  // namespace

std::vector<int64_t> GreedyGenerate(const Decoder& model, const std::vector<int64_t>& prompt_ids,
                                    const GreedyOptions& options) {
  CHECK(!prompt_ids.empty());
  at::NoGradGuard no_grad;
  const int64_t n = static_cast<int64_t>(prompt_ids.size());
  std::unique_ptr<KVCache> cache = model.NewCache(1, n + options.max_new_tokens);
  at::Tensor logits = model.Extend(*cache, at::tensor(prompt_ids, at::kLong).view({1, n}), {n});
  std::vector<int64_t> out;
  while (static_cast<int64_t>(out.size()) < options.max_new_tokens) {
    const int64_t next = logits[0].argmax().item<int64_t>();
    out.push_back(next);
    if (IsStop(options, next) || static_cast<int64_t>(out.size()) == options.max_new_tokens) break;
    logits = model.Extend(*cache, at::full({1, 1}, next, at::kLong), {1});
  }
  return out;
}

std::vector<int64_t> GreedyGenerateByRecompute(const Decoder& model, const std::vector<int64_t>& prompt_ids,
                                               const GreedyOptions& options) {
  at::NoGradGuard no_grad;
  std::vector<int64_t> seq = prompt_ids;
  std::vector<int64_t> out;
  while (static_cast<int64_t>(out.size()) < options.max_new_tokens) {
    const int64_t n = static_cast<int64_t>(seq.size());
    at::Tensor logits = model.Forward(at::tensor(seq, at::kLong).view({1, n}));
    const int64_t next = logits[0][n - 1].argmax().item<int64_t>();
    out.push_back(next);
    seq.push_back(next);
    if (IsStop(options, next)) break;
  }
  return out;
}

}  // namespace ssd
