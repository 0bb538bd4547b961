#include "common/tokenizer/ssd_prompts.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/json.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

// Python str.format with named fields only. `where` names the template.
absl::StatusOr<std::string> Format(absl::string_view tmpl, absl::string_view problem, absl::string_view entry_point,
                                   const std::string& where) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (c == '}') return absl::InvalidArgumentError(absl::StrCat(where, ": single '}' at offset ", i));
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    const size_t close = tmpl.find('}', i);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unclosed '{' at offset ", i));
    }
    const absl::string_view field = tmpl.substr(i + 1, close - i - 1);
    if (field == "problem_description") {
      absl::StrAppend(&out, problem);
    } else if (field == "entry_point") {
      absl::StrAppend(&out, entry_point);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unknown placeholder {", field, "} at offset ", i,
                                                     " (known: {problem_description}, {entry_point})"));
    }
    i = close;
  }
  return out;
}

}  // namespace

PromptTemplates DefaultSsdPrompts() {
  PromptTemplates t;
  t.stdin_template =
      "You will be given a question (problem specification) and will generate a correct Python program that "
      "matches the specification and passes all tests. You will NOT return anything except for the program.\n\n"
      "Question: {problem_description}\n\n"
      "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test on the "
      "sample inputs). Enclose your code within delimiters as follows. Ensure that when the python program runs, "
      "it reads the inputs, runs the algorithm and writes output to STDOUT.\n"
      "```python\n  # YOUR CODE HERE\n```";
  t.starter_code_template =
      "You will be given a question (problem specification) and will generate a correct Python program that "
      "matches the specification and passes all tests. You will NOT return anything except for the program.\n\n"
      "Question: {problem_description}\n\n"
      "You will use the following starter code to write the solution to the problem and enclose your code within "
      "delimiters as follows.\n"
      "```python\n{entry_point}\n```";
  return t;
}

absl::StatusOr<PromptTemplates> LoadPromptTemplates(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, size_t{1} << 20));
  nlohmann::json j;
  {
    absl::StatusOr<nlohmann::json> parsed = ParseJson<nlohmann::json>(text);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", parsed.status().message()));
    j = std::move(*parsed);
  }
  PromptTemplates t;
  for (auto [field, dst] : {std::pair<const char*, std::string*>{"stdin", &t.stdin_template},
                            std::pair<const char*, std::string*>{"starter_code", &t.starter_code_template}}) {
    if (!j.is_object() || !j.contains(field) || !j[field].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": field \"", field, "\" must be a string"));
    }
    *dst = j[field].get<std::string>();
    // Validate now, so a bad template fails at load rather than mid-campaign.
    RETURN_IF_ERROR(Format(*dst, "", "", absl::StrCat(path, ": ", field)).status());
    if (dst->find("{problem_description}") == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": field \"", field, "\" lacks {problem_description}"));
    }
  }
  if (t.starter_code_template.find("{entry_point}") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": field \"starter_code\" lacks {entry_point}"));
  }
  return t;
}

absl::StatusOr<std::string> FormatSsdPrompt(const PromptTemplates& templates, absl::string_view problem_description,
                                            absl::string_view starter_code) {
  if (absl::StripAsciiWhitespace(starter_code).empty()) {
    return Format(templates.stdin_template, problem_description, "", "stdin prompt template");
  }
  return Format(templates.starter_code_template, problem_description, starter_code, "starter-code prompt template");
}

absl::StatusOr<PromptTemplates> LoadPromptTemplatesOrDefault(const std::string& path) {
  if (path.empty()) return DefaultSsdPrompts();
  return LoadPromptTemplates(path);
}

}  // namespace ssd
