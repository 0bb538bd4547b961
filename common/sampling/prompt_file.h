// Prompt files for `ssd sample`: JSONL, one prompt per line, in one of three
// shapes (a file may mix them):
//   {"id": ..., "prompt": "raw text"}       tokenized as is, no chat template
//                                            (as the reference SSD data
//                                            generation does)
//   {"id": ..., "messages": [...]}           rendered with the model's chat
//                                            template, generation prompt added
//   {"question_id": ..., "question_content": ..., "starter_code": ...}
//                                            a LiveCodeBench-style problem,
//                                            worded with the SSD prompt
//                                            templates and sent as one user
//                                            message through the chat template
//                                            (raw when the model has none)
// Any line may also set "max_tokens" (a positive integer) to override the
// run's value for that prompt. Ids may be strings or integers and must be
// unique. Like transformers and
// vLLM, encoding recognises special tokens in the text (the chat template
// needs its markers to be special).
#ifndef SSD_COMMON_SAMPLING_PROMPT_FILE_H_
#define SSD_COMMON_SAMPLING_PROMPT_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/ssd_prompts.h"
#include "common/tokenizer/tokenizer.h"

namespace ssd {

struct PromptEntry {
  std::string id;
  std::vector<int64_t> ids;
  // The text that was tokenized (after the chat template, when applied).
  std::string text;
  // The conversation so far as a JSON array of {role, content}: the line's
  // messages, or one user message holding the raw prompt or the worded
  // problem. An answer appended to it is an ml-ssd SFT line.
  std::string messages_json;
  int64_t line = 0;        // 1-based line in the file
  int64_t max_tokens = 0;  // the line's override; 0: none
};

struct PromptFile {
  std::vector<PromptEntry> prompts;
  // One message per bad line ("FILE:LINE: what is wrong"); those lines are
  // skipped, the others still load.
  std::vector<std::string> errors;
};

// Reads and tokenizes every line. `chat` may be null (messages lines are
// then errors, and problems are sent raw). Fails only when the file cannot
// be read.
absl::StatusOr<PromptFile> LoadPromptFile(const std::string& path, const Tokenizer& tokenizer, const ChatTemplate* chat,
                                          const PromptTemplates& templates);

}  // namespace ssd

#endif  // SSD_COMMON_SAMPLING_PROMPT_FILE_H_
