#include "common/eval/prompting.h"

#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ssd {

absl::StatusOr<std::string> FormatProblemPrompt(const PromptTemplates& templates, const Problem& problem) {
  return FormatSsdPrompt(templates, problem.content, problem.starter_code);
}

std::string ExtractCode(absl::string_view model_output) {
  // A thinking model may quote code while it reasons; only the final answer
  // counts.
  const size_t think_end = model_output.rfind("</think>");
  if (think_end != absl::string_view::npos) model_output.remove_prefix(think_end + 8);
  const std::vector<absl::string_view> lines = absl::StrSplit(model_output, '\n');
  int last = -1, before_last = -1;
  for (int i = 0; i < static_cast<int>(lines.size()); ++i) {
    if (lines[i].find("```") != absl::string_view::npos) {
      before_last = last;
      last = i;
    }
  }
  if (before_last < 0) return "";
  return absl::StrJoin(lines.begin() + before_last + 1, lines.begin() + last, "\n");
}

}  // namespace ssd
