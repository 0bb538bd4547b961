// SftDataset: a chat JSONL file (common/chat/chat_record.h) read into
// tokenized training examples with their loss masks (the training
// conversation, common/chat/training_conversation.h). Torch-free.
//
// A conversation whose every target lies past max_seq_len is dropped and
// counted in SftDatasetStats::dropped_truncated, with one warning for the
// whole load; it never reaches the loss (where it would divide zero by zero).
//
// Bad lines (not JSON, wrong shape, no assistant turn, a template error)
// are reported as "<path>:<line>: <what>" (common/util/jsonl.h). With
// BadLinePolicy::kFail (the default) the first one fails the load; with
// kSkip each is logged, counted and skipped. A token outside the model's
// vocabulary fails the load whatever the policy. A dataset with no
// trainable example fails either way.
#ifndef SSD_TRAINER_WORKER_SFT_DATASET_H_
#define SSD_TRAINER_WORKER_SFT_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/chat/training_conversation.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/jsonl.h"

namespace ssd {

struct SftDatasetOptions : ConversationOptions {
  BadLinePolicy bad_lines = BadLinePolicy::kFail;  // kFail or kSkip
};

struct SftDatasetStats {
  int64_t lines = 0;              // non-blank lines read
  int64_t examples = 0;           // kept
  int64_t bad_lines = 0;          // skipped under kSkip
  int64_t truncated = 0;          // cut to max_seq_len but kept
  int64_t dropped_truncated = 0;  // every target token was cut away
  int64_t tokens = 0;             // over kept examples
  int64_t target_tokens = 0;
};

struct SftDataset {
  std::vector<TokenizedExample> examples;
  SftDatasetStats stats;
  // FNV-1a over every example's ids and mask: resume refuses a changed dataset.
  uint64_t fingerprint = 0;
  // Set when this process holds only some of the examples (rank_share.h):
  // sizes[i] is example i's size, examples[i] is empty for the ones it does
  // not hold, and the fingerprint covers the sizes.
  std::vector<ExampleSize> sizes;
};

// Reads and tokenizes a whole JSONL file.
absl::StatusOr<SftDataset> LoadSftDataset(const std::string& path, const ChatTemplate& chat, const Tokenizer& tokenizer,
                                          const SftDatasetOptions& options);

// Builds a dataset from already tokenized examples (tests, benchmarks).
SftDataset DatasetFromExamples(std::vector<TokenizedExample> examples);

uint64_t FingerprintExamples(const std::vector<TokenizedExample>& examples);
// FNV-1a over the sizes alone: what ranks holding different examples of
// the same round share (rank_share.h).
uint64_t FingerprintSizes(const std::vector<ExampleSize>& sizes);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_SFT_DATASET_H_
