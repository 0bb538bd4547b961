// Renders a conversation with its chat template, tokenizes it, and marks the
// tokens of each assistant reply: what SFT takes the loss on.
//
// How spans are found, for any template, by rendering probes of each
// assistant message: the span starts where a rendering with a sentinel in
// place of the content first differs from the real one (so content-derived
// text the template prints first, like Qwen3's reasoning block, is included)
// and ends where a sentinel appended to the real content lands. It then
// extends over a special token that immediately follows (<|im_end|>,
// <|eot_id|>), so the model learns to stop. A template whose probes do not
// line up with the real rendering fails with an error naming the message,
// rather than producing a wrong mask.
//
// Tokens map to characters through their bytes: the rendered text must
// tokenize and decode back byte for byte (true for byte-level BPE on NFC text).
#ifndef SSD_COMMON_TOKENIZER_ASSISTANT_MASK_H_
#define SSD_COMMON_TOKENIZER_ASSISTANT_MASK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"

namespace ssd {

struct MaskedConversation {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<uint8_t> assistant_mask;  // 1 for assistant-reply tokens
  // Byte ranges [begin, end) of the assistant spans in `text`.
  std::vector<std::pair<size_t, size_t>> spans;
};

absl::StatusOr<MaskedConversation> RenderWithAssistantMask(const ChatTemplate& chat, const Tokenizer& tokenizer,
                                                           const nlohmann::ordered_json& messages,
                                                           const ChatOptions& options = {});

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_ASSISTANT_MASK_H_
