// Batch planning: which examples go into which micro-batch of which step.
// Torch-free and deterministic: the plan is a pure function of the examples'
// lengths, the options and the epoch, so every rank (and a resumed run)
// computes the same plan without talking to the others.
//
//   epoch e:  shuffle(example indices, seed, e)        (Fisher-Yates, SplitMix64)
//          -> micro-batches of micro_batch_tokens each (packed or padded)
//          -> steps of micro_batches_per_step micro-batches (the last step of
//             an epoch may have fewer; nothing is dropped)
//   rank r of W runs micro-batches r, r+W, r+2W, ... of every step.
//
// Packed (default): a micro-batch is rows x row_tokens tokens, rows =
// micro_batch_tokens / row_tokens. Examples are placed first-fit into the
// rows of the open micro-batch, in shuffled order; when one fits nowhere the
// micro-batch is closed. Each document keeps its own positions (restarting at
// 0) and sees only itself (block-diagonal causal mask).
//
// Padded: one example per row, right-padded to the longest row of its
// micro-batch. Length bucketing: within windows of bucket_window shuffled
// examples, examples are sorted by length, then cut greedily into
// micro-batches with rows x longest <= micro_batch_tokens.
#ifndef SSD_TRAINER_WORKER_PACKING_H_
#define SSD_TRAINER_WORKER_PACKING_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainer_worker/sft_dataset.h"

namespace ssd {

enum class BatchingMode { kPacked, kPadded };

// Target id of positions that take no loss (matches at::cross_entropy's
// default ignore_index).
constexpr int32_t kIgnoreTarget = -100;

struct BatchPlanOptions {
  BatchingMode mode = BatchingMode::kPacked;
  int64_t row_tokens = 2048;          // packed row length; = max_seq_len
  int64_t micro_batch_tokens = 8192;  // per forward/backward; multiple of row_tokens
  int64_t batch_tokens = 65536;       // per optimizer step; multiple of micro_batch_tokens
  int64_t bucket_window = 256;        // padded mode only
  uint64_t seed = 0;

  absl::Status Validate() const;
  int64_t micro_batches_per_step() const { return batch_tokens / micro_batch_tokens; }
};

// The examples of one micro-batch: rows[r] lists example indices in order.
struct MicroBatchSpec {
  std::vector<std::vector<int32_t>> rows;
};

// One optimizer step: micro-batches [first, first + count) of its epoch.
struct StepSpec {
  int64_t epoch = 0;
  int64_t index_in_epoch = 0;
  int64_t first = 0;
  int64_t count = 0;
};

// The token tensors of one micro-batch, row-major [rows, cols].
struct MicroBatch {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int64_t> input_ids;  // pads are 0
  // targets[i] is the token to predict at position i (the next token of the
  // same document) or kIgnoreTarget.
  std::vector<int64_t> targets;
  std::vector<std::vector<int64_t>> doc_lengths;  // per row, in order
  int64_t loss_tokens = 0;
  int64_t real_tokens = 0;  // non-pad
};

// Deterministic permutation of [0, n) for (seed, epoch).
std::vector<int32_t> ShufflePermutation(int64_t n, uint64_t seed, int64_t epoch);

class BatchPlan {
 public:
  // Plans `epochs` epochs. Fails if an example is longer than a row (packed)
  // or than micro_batch_tokens (padded).
  static absl::StatusOr<BatchPlan> Build(const std::vector<TokenizedExample>& examples, const BatchPlanOptions& options,
                                         int64_t epochs);
  // The same plan from the examples' sizes alone.
  static absl::StatusOr<BatchPlan> Build(const std::vector<ExampleSize>& sizes, const BatchPlanOptions& options,
                                         int64_t epochs);

  int64_t num_steps() const { return static_cast<int64_t>(steps_.size()); }
  const StepSpec& step(int64_t s) const { return steps_[static_cast<size_t>(s)]; }
  const MicroBatchSpec& micro_batch(int64_t epoch, int64_t i) const {
    return epochs_[static_cast<size_t>(epoch)][static_cast<size_t>(i)];
  }
  // The micro-batches of step `s` that rank `rank` of `world` runs.
  std::vector<const MicroBatchSpec*> RankShare(int64_t s, int rank, int world) const;
  // Target tokens over the whole global batch of step `s` (all ranks).
  int64_t GlobalLossTokens(int64_t s) const { return step_loss_tokens_[static_cast<size_t>(s)]; }

  const BatchPlanOptions& options() const { return options_; }

  // Whether rank `rank` of `world` trains on example i in the first
  // `steps` steps (all of them when steps <= 0 or beyond the plan).
  std::vector<bool> ExamplesOfRank(int rank, int world, int64_t steps) const;

 private:
  BatchPlanOptions options_;
  std::vector<std::vector<MicroBatchSpec>> epochs_;
  std::vector<StepSpec> steps_;
  std::vector<int64_t> step_loss_tokens_;
  int64_t num_examples_ = 0;
};

// Lays out the tokens of `spec`.
MicroBatch Materialize(const MicroBatchSpec& spec, const std::vector<TokenizedExample>& examples,
                       const BatchPlanOptions& options);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_PACKING_H_
