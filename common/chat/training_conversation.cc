#include "common/chat/training_conversation.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/chat/chat_record.h"
#include "common/tokenizer/assistant_mask.h"
#include "common/util/status_macros.h"

namespace ssd {

absl::Status ConversationOptions::Validate() const {
  if (max_seq_len < 2) return absl::InvalidArgumentError(absl::StrCat("max_seq_len: must be >= 2, got ", max_seq_len));
  if (vocab_limit < 0) return absl::InvalidArgumentError("vocab_limit: must be >= 0");
  return absl::OkStatus();
}

int64_t TokenizedExample::num_targets() const {
  int64_t n = 0;
  for (uint8_t m : loss_mask) n += m;
  return n;
}

ExampleSize SizeOf(const TokenizedExample& example) {
  // Positions 1.. only: nothing predicts token 0.
  ExampleSize size{static_cast<int64_t>(example.ids.size()), 0};
  for (size_t t = 1; t < example.loss_mask.size(); ++t) size.loss_tokens += example.loss_mask[t];
  return size;
}

absl::StatusOr<TokenizedExample> TokenizeConversation(const nlohmann::ordered_json& messages, const ChatTemplate& chat,
                                                      const Tokenizer& tokenizer, const ConversationOptions& options,
                                                      bool* truncated) {
  ASSIGN_OR_RETURN(MaskedConversation conv, RenderWithAssistantMask(chat, tokenizer, messages, options.chat));
  TokenizedExample ex;
  ex.ids = std::move(conv.ids);
  ex.loss_mask = std::move(conv.assistant_mask);
  if (!ex.loss_mask.empty()) ex.loss_mask[0] = 0;
  if (options.vocab_limit > 0) {
    for (size_t t = 0; t < ex.ids.size(); ++t) {
      if (ex.ids[t] < 0 || ex.ids[t] >= options.vocab_limit) {
        return absl::FailedPreconditionError(absl::StrCat("token ", t, " has id ", ex.ids[t],
                                                          " but the model's vocab_size is ", options.vocab_limit,
                                                          "; the tokenizer does not belong to this model"));
      }
    }
  }
  if (ex.num_targets() == 0) return absl::InvalidArgumentError("the assistant turns render to no tokens");
  *truncated = false;
  if (static_cast<int64_t>(ex.ids.size()) > options.max_seq_len) {
    *truncated = true;
    ex.ids.resize(static_cast<size_t>(options.max_seq_len));
    ex.loss_mask.resize(static_cast<size_t>(options.max_seq_len));
    if (ex.num_targets() == 0) return absl::NotFoundError("every assistant token lies past max_seq_len");
  }
  return ex;
}

absl::StatusOr<ExampleSize> SizeTrainingConversation(absl::string_view messages_json, absl::string_view raw_prompt,
                                                     absl::string_view answer, const ChatTemplate& chat,
                                                     const Tokenizer& tokenizer, const ConversationOptions& options) {
  ASSIGN_OR_RETURN(nlohmann::ordered_json conversation, SampleConversation(messages_json, raw_prompt, answer));
  // Through the line, as a rank reads it: U+FFFD replacements included.
  ASSIGN_OR_RETURN(nlohmann::ordered_json messages, ParseChatRecord(ChatRecordLine(conversation)));
  bool truncated = false;
  absl::StatusOr<TokenizedExample> ex = TokenizeConversation(messages, chat, tokenizer, options, &truncated);
  if (absl::IsNotFound(ex.status())) return ExampleSize{options.max_seq_len, 0};
  if (!ex.ok()) return ex.status();
  return SizeOf(*ex);
}

}  // namespace ssd
