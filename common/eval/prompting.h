// From problem to prompt, and from model output back to code.
#ifndef SSD_COMMON_EVAL_PROMPTING_H_
#define SSD_COMMON_EVAL_PROMPTING_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/eval/benchmark.h"
#include "common/tokenizer/ssd_prompts.h"

namespace ssd {

// The SSD user prompt for `problem`: the stdin template for stdin problems,
// the starter-code template (with the starter code, or HumanEval's prompt)
// otherwise.
absl::StatusOr<std::string> FormatProblemPrompt(const PromptTemplates& templates, const Problem& problem);

// The code in a model's answer, as LiveCodeBench extracts it: reasoning up
// to the last "</think>" is dropped, then the answer is split into lines and
// the text between the last two lines that contain "```" is returned
// (the last fenced block; the fence lines themselves, with any language tag,
// are not part of it). Fewer than two fence lines give "", which graders
// record as "no code".
std::string ExtractCode(absl::string_view model_output);

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_PROMPTING_H_
