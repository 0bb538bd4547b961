// The tokens that end a model's turn, found in its tokenizer: what
// generation stops at by default, and what `ssd model init --tokenizer`
// writes as config.json's eos_token_id.
#ifndef SSD_COMMON_TOKENIZER_END_OF_TURN_H_
#define SSD_COMMON_TOKENIZER_END_OF_TURN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer/tokenizer.h"

namespace ssd {

// Ids of the end-of-turn and end-of-text markers the vocabulary has, in
// this order: <|im_end|> (ChatML: Qwen), <|eot_id|> (Llama-3),
// <|endoftext|>, <|end_of_text|>.
std::vector<int32_t> TurnEndTokenIds(const Tokenizer& tokenizer);

// The end-of-turn token: <|im_end|> or <|eot_id|> when the vocabulary has
// one (a chat model ends its answer there), else the `eos_token` of
// `tokenizer_dir`/tokenizer_config.json when it is a token of the
// vocabulary; nullopt when neither exists. Errors only for an unreadable or
// malformed tokenizer_config.json.
absl::StatusOr<std::optional<int32_t>> EndOfTurnTokenId(const std::string& tokenizer_dir, const Tokenizer& tokenizer);

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_END_OF_TURN_H_
