// SftDataset: chat JSONL rendered with the model's chat template and
// tokenized, with a loss mask over the assistant tokens. Torch-free.
//
// Accepted lines (one JSON object per line; blank lines are ignored):
//   {"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}
//   {"prompt": "...", "response": "..."}      ("completion" is accepted for
//                                              "response"), rendered as a
//                                              user turn then an assistant turn.
//
// Loss: token t is a target iff the assistant mask of RenderWithAssistantMask
// marks it (the reply plus the end-of-turn token that follows it). Token 0 is
// never a target (nothing precedes it).
//
// Truncation rule: a conversation longer than max_seq_len tokens keeps its
// first max_seq_len tokens (the prompt stays whole, the end of the reply is
// cut). If no target token survives, the conversation is dropped and counted
// in SftDatasetStats::dropped_truncated, with one warning for the whole load;
// it never reaches the loss (where it would divide zero by zero).
//
// Bad lines (not JSON, wrong shape, no assistant turn, a template error)
// are reported as "<path>:<line>: <what>". With BadLinePolicy::kFail (the
// default) the first one fails the load; with kSkip each is logged, counted
// and skipped. A dataset with no trainable example fails either way.
#ifndef SSD_TRAINER_WORKER_SFT_DATASET_H_
#define SSD_TRAINER_WORKER_SFT_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"

namespace ssd {

enum class BadLinePolicy { kFail, kSkip };

struct SftDatasetOptions {
  int64_t max_seq_len = 2048;  // tokens per conversation after truncation
  BadLinePolicy bad_lines = BadLinePolicy::kFail;
  // Tokens at or above this id are an error (the model's vocab_size); 0
  // disables the check.
  int64_t vocab_limit = 0;
  // Chat template variables, e.g. {"enable_thinking": false}.
  ChatOptions chat;

  absl::Status Validate() const;
};

struct TokenizedExample {
  std::vector<int32_t> ids;
  std::vector<uint8_t> loss_mask;  // loss_mask[t] == 1: predict ids[t] from ids[<t]
  int64_t line = 0;                // 1-based source line, 0 if synthetic
  int64_t num_targets() const;
};

// What a batch plan needs of an example: its length and how many of its
// tokens the loss sees (loss-mask positions after the first).
struct ExampleSize {
  int64_t tokens = 0;
  int64_t loss_tokens = 0;
};

ExampleSize SizeOf(const TokenizedExample& example);

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

// Parses one JSONL line into a messages array. `where` ("train.jsonl:12")
// prefixes errors.
absl::StatusOr<nlohmann::ordered_json> ParseSftLine(absl::string_view line, const std::string& where);

// Renders, tokenizes and masks `messages`; applies the truncation rule.
// Returns NotFound when truncation removed every target (the caller counts
// it) and InvalidArgument for conversations that can never train.
absl::StatusOr<TokenizedExample> TokenizeConversation(const nlohmann::ordered_json& messages,
                                                      const ChatTemplate& chat, const Tokenizer& tokenizer,
                                                      const SftDatasetOptions& options, bool* truncated);

// Reads and tokenizes a whole JSONL file.
absl::StatusOr<SftDataset> LoadSftDataset(const std::string& path, const ChatTemplate& chat,
                                          const Tokenizer& tokenizer, const SftDatasetOptions& options);

// Builds a dataset from already tokenized examples (tests, benchmarks).
SftDataset DatasetFromExamples(std::vector<TokenizedExample> examples);

uint64_t FingerprintExamples(const std::vector<TokenizedExample>& examples);
// FNV-1a over the sizes alone: what ranks holding different examples of
// the same round share (rank_share.h).
uint64_t FingerprintSizes(const std::vector<ExampleSize>& sizes);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_SFT_DATASET_H_
