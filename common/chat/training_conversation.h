// The training conversation: how a chat (ml-ssd messages) becomes one
// tokenized training example, with the mask of the tokens the loss sees and
// the truncation rule. The trainer reads its data with it
// (trainer_worker/sft_dataset.h), and a sampler sizes each sample it stores
// with it (Sample.sft_tokens), so the trainer's batch plan and its data agree
// token for token. Torch-free.
//
// Loss: token t is a target iff the assistant mask of RenderWithAssistantMask
// marks it (each assistant reply plus the end-of-turn token after it). Token
// 0 is never a target (nothing precedes it).
//
// Truncation: a conversation longer than max_seq_len tokens keeps its first
// max_seq_len tokens (the prompt stays whole, the end of the reply is cut).
// If no target token survives, the conversation cannot train; callers count
// and drop it.
#ifndef SSD_COMMON_CHAT_TRAINING_CONVERSATION_H_
#define SSD_COMMON_CHAT_TRAINING_CONVERSATION_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace ssd {

struct ConversationOptions {
  int64_t max_seq_len = 2048;  // tokens per conversation after truncation
  // Tokens at or above this id are an error (the model's vocab_size); 0
  // disables the check.
  int64_t vocab_limit = 0;
  // Chat template variables, e.g. {"enable_thinking": false}.
  ChatOptions chat;

  // Names the bad field.
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

// Renders `messages` with the chat template, tokenizes, masks and truncates.
// Sets *truncated when it cut the conversation. Errors:
//   NOT_FOUND           truncation removed every target (callers count it);
//   FAILED_PRECONDITION a token is outside the model's vocabulary: the
//                       tokenizer is not the model's, and no line will do better;
//   INVALID_ARGUMENT    this conversation can never train (a template error,
//                       assistant turns that render to nothing).
absl::StatusOr<TokenizedExample> TokenizeConversation(const nlohmann::ordered_json& messages, const ChatTemplate& chat,
                                                      const Tokenizer& tokenizer, const ConversationOptions& options,
                                                      bool* truncated);

// The size of the conversation a stored sample trains as (SampleConversation
// in chat_record.h), computed exactly as a trainer rank computes it from the
// JSONL line it reads: the line is written and parsed back first. A sample
// that truncation leaves without targets is {max_seq_len, 0}.
absl::StatusOr<ExampleSize> SizeTrainingConversation(absl::string_view messages_json, absl::string_view raw_prompt,
                                                     absl::string_view answer, const ChatTemplate& chat,
                                                     const Tokenizer& tokenizer, const ConversationOptions& options);

}  // namespace ssd

#endif  // SSD_COMMON_CHAT_TRAINING_CONVERSATION_H_
