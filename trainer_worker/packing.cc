#include "trainer_worker/packing.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/util/splitmix64.h"

namespace ssd {
namespace {

// Uniform in [0, n) without modulo bias (rejection of the short last range).
uint64_t Below(uint64_t n, uint64_t* state) {
  const uint64_t limit = ~uint64_t{0} - (~uint64_t{0} % n);
  uint64_t x;
  do {
    x = SplitMix64Next(state);
  } while (x >= limit);
  return x % n;
}

std::vector<MicroBatchSpec> PlanPacked(const std::vector<ExampleSize>& examples, const std::vector<int32_t>& order,
                                       const BatchPlanOptions& o) {
  const int64_t rows = o.micro_batch_tokens / o.row_tokens;
  std::vector<MicroBatchSpec> out;
  MicroBatchSpec open;
  std::vector<int64_t> used;
  auto close = [&] {
    if (open.rows.empty()) return;
    out.push_back(std::move(open));
    open = MicroBatchSpec();
    used.clear();
  };
  for (int32_t idx : order) {
    const int64_t len = examples[static_cast<size_t>(idx)].tokens;
    size_t r = 0;
    while (r < used.size() && used[r] + len > o.row_tokens) ++r;
    if (r == used.size()) {
      if (static_cast<int64_t>(used.size()) == rows) {
        close();
        r = 0;
      }
      open.rows.emplace_back();
      used.push_back(0);
    }
    open.rows[r].push_back(idx);
    used[r] += len;
  }
  close();
  return out;
}

std::vector<MicroBatchSpec> PlanPadded(const std::vector<ExampleSize>& examples, std::vector<int32_t> order,
                                       const BatchPlanOptions& o) {
  auto len = [&](int32_t i) { return examples[static_cast<size_t>(i)].tokens; };
  for (size_t begin = 0; begin < order.size(); begin += static_cast<size_t>(o.bucket_window)) {
    const size_t end = std::min(order.size(), begin + static_cast<size_t>(o.bucket_window));
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(begin),
                     order.begin() + static_cast<std::ptrdiff_t>(end),
                     [&](int32_t a, int32_t b) { return len(a) < len(b); });
  }
  std::vector<MicroBatchSpec> out;
  MicroBatchSpec open;
  int64_t longest = 0;
  for (int32_t idx : order) {
    const int64_t l = std::max(longest, len(idx));
    if (!open.rows.empty() && static_cast<int64_t>(open.rows.size() + 1) * l > o.micro_batch_tokens) {
      out.push_back(std::move(open));
      open = MicroBatchSpec();
      longest = 0;
    }
    open.rows.push_back({idx});
    longest = std::max(longest, len(idx));
  }
  if (!open.rows.empty()) out.push_back(std::move(open));
  return out;
}

}  // namespace

absl::Status BatchPlanOptions::Validate() const {
  if (row_tokens < 2) return absl::InvalidArgumentError("row_tokens (max_seq_len): must be >= 2");
  if (micro_batch_tokens < row_tokens || micro_batch_tokens % row_tokens != 0) {
    return absl::InvalidArgumentError(absl::StrCat("micro_batch_tokens: ", micro_batch_tokens,
                                                   " must be a positive multiple of max_seq_len (", row_tokens, ")"));
  }
  if (batch_tokens < micro_batch_tokens || batch_tokens % micro_batch_tokens != 0) {
    return absl::InvalidArgumentError(absl::StrCat("batch_tokens: ", batch_tokens,
                                                   " must be a positive multiple of micro_batch_tokens (",
                                                   micro_batch_tokens, ")"));
  }
  if (bucket_window < 1) return absl::InvalidArgumentError("bucket_window: must be >= 1");
  return absl::OkStatus();
}

std::vector<int32_t> ShufflePermutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  uint64_t state = seed ^ (0xD1B54A32D192ED03ull * static_cast<uint64_t>(epoch + 1));
  for (int64_t i = n - 1; i > 0; --i) {
    const uint64_t j = Below(static_cast<uint64_t>(i + 1), &state);
    std::swap(p[static_cast<size_t>(i)], p[j]);
  }
  return p;
}

absl::StatusOr<BatchPlan> BatchPlan::Build(const std::vector<TokenizedExample>& examples,
                                           const BatchPlanOptions& options, int64_t epochs) {
  const int64_t limit = options.mode == BatchingMode::kPacked ? options.row_tokens : options.micro_batch_tokens;
  std::vector<ExampleSize> sizes;
  sizes.reserve(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    const int64_t len = static_cast<int64_t>(examples[i].ids.size());
    if (len < 1 || len > limit || examples[i].loss_mask.size() != examples[i].ids.size()) {
      return absl::InvalidArgumentError(absl::StrCat("example ", i, " (line ", examples[i].line, ") has ", len,
                                                     " tokens; each must have 1..", limit,
                                                     " tokens and a mask of the same length"));
    }
    sizes.push_back(SizeOf(examples[i]));
  }
  return Build(sizes, options, epochs);
}

absl::StatusOr<BatchPlan> BatchPlan::Build(const std::vector<ExampleSize>& examples, const BatchPlanOptions& options,
                                           int64_t epochs) {
  if (auto s = options.Validate(); !s.ok()) return s;
  if (epochs < 1) return absl::InvalidArgumentError("epochs: must be >= 1");
  if (examples.empty()) return absl::InvalidArgumentError("the dataset has no examples");
  if (examples.size() > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the dataset has ", examples.size(), " examples; at most ", INT32_MAX, " fit a plan"));
  }
  const int64_t limit = options.mode == BatchingMode::kPacked ? options.row_tokens : options.micro_batch_tokens;
  for (size_t i = 0; i < examples.size(); ++i) {
    const ExampleSize& x = examples[i];
    if (x.tokens < 1 || x.tokens > limit || x.loss_tokens < 0 || x.loss_tokens >= x.tokens) {
      return absl::InvalidArgumentError(absl::StrCat("example ", i, " has ", x.tokens, " tokens and ", x.loss_tokens,
                                                     " loss tokens; each must have 1..", limit,
                                                     " tokens and fewer loss tokens than tokens"));
    }
  }
  BatchPlan plan;
  plan.options_ = options;
  plan.num_examples_ = static_cast<int64_t>(examples.size());
  const int64_t per_step = options.micro_batches_per_step();
  for (int64_t e = 0; e < epochs; ++e) {
    std::vector<int32_t> order = ShufflePermutation(static_cast<int64_t>(examples.size()), options.seed, e);
    plan.epochs_.push_back(options.mode == BatchingMode::kPacked ? PlanPacked(examples, order, options)
                                                                 : PlanPadded(examples, order, options));
    const auto& mbs = plan.epochs_.back();
    const int64_t n = static_cast<int64_t>(mbs.size());
    for (int64_t first = 0, k = 0; first < n; first += per_step, ++k) {
      StepSpec s{e, k, first, std::min(per_step, n - first)};
      int64_t loss_tokens = 0;
      for (int64_t i = s.first; i < s.first + s.count; ++i) {
        for (const auto& row : mbs[static_cast<size_t>(i)].rows) {
          for (int32_t idx : row) loss_tokens += examples[static_cast<size_t>(idx)].loss_tokens;
        }
      }
      plan.steps_.push_back(s);
      plan.step_loss_tokens_.push_back(loss_tokens);
    }
  }
  return plan;
}

std::vector<bool> BatchPlan::ExamplesOfRank(int rank, int world, int64_t steps) const {
  std::vector<bool> used(static_cast<size_t>(num_examples_), false);
  const int64_t n = steps > 0 ? std::min(steps, num_steps()) : num_steps();
  for (int64_t s = 0; s < n; ++s) {
    for (const MicroBatchSpec* mb : RankShare(s, rank, world)) {
      for (const auto& row : mb->rows) {
        for (int32_t idx : row) used[static_cast<size_t>(idx)] = true;
      }
    }
  }
  return used;
}

std::vector<const MicroBatchSpec*> BatchPlan::RankShare(int64_t s, int rank, int world) const {
  const StepSpec& st = step(s);
  std::vector<const MicroBatchSpec*> out;
  for (int64_t i = rank; i < st.count; i += world) out.push_back(&micro_batch(st.epoch, st.first + i));
  return out;
}

MicroBatch Materialize(const MicroBatchSpec& spec, const std::vector<TokenizedExample>& examples,
                       const BatchPlanOptions& options) {
  MicroBatch mb;
  mb.rows = static_cast<int64_t>(spec.rows.size());
  // As wide as the longest row, in both modes: a packed row is at most
  // row_tokens, and the padding every row would share past its longest one
  // costs a long-context row's attention and MLP for nothing.
  for (const auto& row : spec.rows) {
    int64_t len = 0;
    for (int32_t idx : row) len += static_cast<int64_t>(examples[static_cast<size_t>(idx)].ids.size());
    mb.cols = std::max(mb.cols, len);
  }
  mb.input_ids.assign(static_cast<size_t>(mb.rows * mb.cols), 0);
  mb.targets.assign(static_cast<size_t>(mb.rows * mb.cols), kIgnoreTarget);
  mb.doc_lengths.resize(spec.rows.size());
  for (int64_t r = 0; r < mb.rows; ++r) {
    int64_t at = r * mb.cols;
    for (int32_t idx : spec.rows[static_cast<size_t>(r)]) {
      const TokenizedExample& ex = examples[static_cast<size_t>(idx)];
      const int64_t len = static_cast<int64_t>(ex.ids.size());
      for (int64_t t = 0; t < len; ++t) {
        mb.input_ids[static_cast<size_t>(at + t)] = ex.ids[static_cast<size_t>(t)];
        if (t + 1 < len && ex.loss_mask[static_cast<size_t>(t + 1)]) {
          mb.targets[static_cast<size_t>(at + t)] = ex.ids[static_cast<size_t>(t + 1)];
          ++mb.loss_tokens;
        }
      }
      at += len;
      mb.real_tokens += len;
      mb.doc_lengths[static_cast<size_t>(r)].push_back(len);
    }
  }
  return mb;
}

}  // namespace ssd
