// The user-turn prompts SSD samples and evaluates with: one for stdin
// problems and one for problems with starter code. The built-in wording is
// the reference SSD evaluation's (LiveCodeBench's public prompt, "You will be
// given a question (problem specification) and will generate a correct Python
// program..."), so results compare with published numbers. Users can replace
// both with a JSON file {"stdin": "...", "starter_code": "..."}.
//
// Templates use Python str.format placeholders: {problem_description} in
// both, {entry_point} (the starter code) in the starter-code one; "{{" and
// "}}" are literal braces.
#ifndef SSD_COMMON_TOKENIZER_SSD_PROMPTS_H_
#define SSD_COMMON_TOKENIZER_SSD_PROMPTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

struct PromptTemplates {
  std::string stdin_template;
  std::string starter_code_template;
};

// The reference wording.
PromptTemplates DefaultSsdPrompts();

// Reads {"stdin": ..., "starter_code": ...}; both must be strings with the
// placeholders they need. Errors name the file and the field.
absl::StatusOr<PromptTemplates> LoadPromptTemplates(const std::string& path);
// LoadPromptTemplates, or DefaultSsdPrompts() when `path` is empty (an
// optional --prompt-templates flag).
absl::StatusOr<PromptTemplates> LoadPromptTemplatesOrDefault(const std::string& path);

// The stdin template when `starter_code` is empty (after trimming
// whitespace), else the starter-code template.
absl::StatusOr<std::string> FormatSsdPrompt(const PromptTemplates& templates, absl::string_view problem_description,
                                            absl::string_view starter_code);

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_SSD_PROMPTS_H_
