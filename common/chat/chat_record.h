// The ml-ssd chat record: one JSON object per line of JSONL,
//
//   {"messages": [{"role": "user", "content": ...}, {"role": "assistant", "content": ...}]}
//
// It is the format SSD's distilled data is exchanged in: `ssd export` and
// `ssd sample --sft-out` write it, `ssd train`, `ssd filter` and `ssd import`
// read it, and trainer ranks train on the lines the replay store hands them.
// Every reader validates messages with the checks below, so one file is
// accepted or refused alike everywhere, with the same messages.
//
// A message is an object with a string "role" and a string "content"; other
// keys are kept but not read. The reader also takes the TRL prompt/response
// shape, {"prompt": P, "response": R} ("completion" for "response"), as one
// user turn and one assistant turn.
#ifndef SSD_COMMON_CHAT_CHAT_RECORD_H_
#define SSD_COMMON_CHAT_CHAT_RECORD_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace ssd {

// The checks take nlohmann::json or nlohmann::ordered_json.
//
// A non-empty JSON array of messages. The error names the first bad one:
// "messages[2] must be an object with string \"role\" and \"content\"".
template <typename Json>
absl::Status ValidateMessages(const Json& messages);

// ValidateMessages, and at least one message is the assistant's: something
// to train on.
template <typename Json>
absl::Status ValidateTrainable(const Json& messages);

// ValidateMessages, and the conversation is a prompt with its answer: at
// least two messages, the last the assistant's. What `ssd filter` and
// `ssd import` split into a prompt and an answer.
template <typename Json>
absl::Status ValidateAnswered(const Json& messages);

// The messages of one JSONL line (either shape), checked by
// ValidateMessages. INVALID_ARGUMENT names what is wrong; callers prefix
// the file and line.
absl::StatusOr<nlohmann::ordered_json> ParseChatRecord(absl::string_view line);

// {"messages": messages} on one line, without the newline. Bytes that are not
// UTF-8 (byte-level tokens can decode to them) become U+FFFD, as JSON cannot
// hold them.
std::string ChatRecordLine(const nlohmann::ordered_json& messages);

// The conversation a stored sample trains as: the problem's messages (a JSON
// array, as the coordinator stores them) or, when there are none, its raw
// prompt as one user turn; then `answer` as the assistant turn. DATA_LOSS
// when `messages_json` is not an array of messages.
absl::StatusOr<nlohmann::ordered_json> SampleConversation(absl::string_view messages_json, absl::string_view raw_prompt,
                                                          absl::string_view answer);

// ChatRecordLine of SampleConversation: the line `ssd export` writes and a
// trainer rank reads for one stored sample.
absl::StatusOr<std::string> SampleConversationLine(absl::string_view messages_json, absl::string_view raw_prompt,
                                                   absl::string_view answer);

}  // namespace ssd

#endif  // SSD_COMMON_CHAT_CHAT_RECORD_H_
