// The training conversation of a stored sample, as one ml-ssd chat JSONL
// line: the problem's messages (or its raw prompt as one user turn), then
// the sample's text as the assistant turn. `ssd export` writes it, trainer
// ranks train on it, and samplers count its tokens (Sample.sft_tokens) from
// it, so the three agree byte for byte. Bytes of the text that are not
// UTF-8 (byte-level tokens can decode to them) become U+FFFD, since JSON
// cannot hold them.
#ifndef SSD_COMMON_FILTER_TRAINING_CONVERSATION_H_
#define SSD_COMMON_FILTER_TRAINING_CONVERSATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ssd/v1/coordinator.pb.h"

namespace ssd {

// {"messages": [...]} without a trailing newline. DATA_LOSS when the
// problem's stored messages do not parse as a JSON array.
absl::StatusOr<std::string> TrainingConversationLine(const v1::Problem& problem, absl::string_view text);

}  // namespace ssd

#endif  // SSD_COMMON_FILTER_TRAINING_CONVERSATION_H_
