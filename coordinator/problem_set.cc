#include "coordinator/problem_set.h"

#include <functional>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/chat/chat_record.h"
#include "common/eval/benchmark.h"
#include "common/eval/inflate.h"
#include "common/eval/prompting.h"
#include "common/util/file_util.h"
#include "common/util/json.h"
#include "common/util/jsonl.h"
#include "common/util/status_macros.h"
#include "coordinator/job_state.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxListedErrors = 20;

// The file's bytes, inflated when it ends in .gz.
absl::StatusOr<std::string> ReadMaybeGzip(const std::string& field, const std::string& path) {
  auto bytes = ReadFileToString(path, size_t{16} << 30);
  if (!bytes.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ": ", bytes.status().message()));
  if (!absl::EndsWith(path, ".gz")) return std::move(*bytes);
  auto text = Inflate(*bytes, InflateFormat::kGzip, size_t{16} << 30);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ": ", path, ": ", text.status().message()));
  return std::move(*text);
}

absl::Status Refuse(const std::string& field, const std::vector<std::string>& errors) {
  std::vector<std::string> shown(errors.begin(), errors.begin() + std::min(errors.size(), kMaxListedErrors));
  std::string more;
  if (errors.size() > kMaxListedErrors) more = absl::StrCat("\n... and ", errors.size() - kMaxListedErrors, " more");
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", errors.size(), " bad line", errors.size() == 1 ? "" : "s",
                                                 " (the job was not created):\n", absl::StrJoin(shown, "\n"), more));
}

absl::StatusOr<std::string> IdOf(const Json& j, const char* key) {
  const Json& v = j[key];
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s.empty()) return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" is empty"));
    if (s.size() > 1024) return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" is longer than 1024 bytes"));
    return s;
  }
  if (v.is_number_integer()) return v.dump();
  return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" must be a string or an integer"));
}

absl::StatusOr<v1::Problem> ParseTrainLine(absl::string_view line, const PromptTemplates& templates) {
  ASSIGN_OR_RETURN(Json j, ParseJsonObject<Json>(line));
  v1::Problem p;
  if (j.contains("max_tokens")) {
    if (!j["max_tokens"].is_number_integer() || j["max_tokens"].get<int64_t>() < 1) {
      return absl::InvalidArgumentError("\"max_tokens\" must be a positive integer");
    }
    p.set_max_tokens(j["max_tokens"].get<int64_t>());
  }
  if (j.contains("difficulty") && j["difficulty"].is_string()) {
    ASSIGN_OR_RETURN(v1::Difficulty d, ParseDifficulty(j["difficulty"].get<std::string>()));
    p.set_difficulty(d);
  }
  if (j.contains("question_id")) {
    ASSIGN_OR_RETURN(std::string id, IdOf(j, "question_id"));
    p.set_id(id);
    if (!j.contains("question_content") || !j["question_content"].is_string()) {
      return absl::InvalidArgumentError("LiveCodeBench problem without a string \"question_content\"");
    }
    std::string starter;
    if (j.contains("starter_code")) {
      if (!j["starter_code"].is_string()) return absl::InvalidArgumentError("\"starter_code\" must be a string");
      starter = j["starter_code"].get<std::string>();
    }
    ASSIGN_OR_RETURN(std::string prompt, FormatSsdPrompt(templates, j["question_content"].get<std::string>(), starter));
    Json messages = Json::array({Json{{"role", "user"}, {"content", prompt}}});
    p.set_messages_json(messages.dump());
    return p;
  }
  if (!j.contains("id")) {
    return absl::InvalidArgumentError(
        "needs \"id\" with \"prompt\" or \"messages\", or a LiveCodeBench \"question_id\"");
  }
  ASSIGN_OR_RETURN(std::string id, IdOf(j, "id"));
  p.set_id(id);
  if (j.contains("prompt")) {
    if (!j["prompt"].is_string()) return absl::InvalidArgumentError("\"prompt\" must be a string");
    p.set_raw_prompt(j["prompt"].get<std::string>());
    if (p.raw_prompt().empty()) return absl::InvalidArgumentError("\"prompt\" is empty");
  } else if (j.contains("messages")) {
    RETURN_IF_ERROR(ValidateMessages(j["messages"]));
    p.set_messages_json(j["messages"].dump());
  } else {
    return absl::InvalidArgumentError("needs \"prompt\" (raw text) or \"messages\" (chat)");
  }
  return p;
}

}  // namespace

absl::StatusOr<PromptTemplates> TemplatesFor(const v1::JobSpec& spec) {
  if (spec.prompt_template().empty()) return DefaultSsdPrompts();
  auto t = LoadPromptTemplates(spec.prompt_template());
  if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("prompt_template: ", t.status().message()));
  return t;
}

namespace {

// Reads `path` line by line: `parse` turns a line into a problem, or into
// nullopt to leave it out. Bad lines and duplicate ids are collected and
// refuse the whole file.
absl::StatusOr<std::vector<v1::Problem>> LoadProblemLines(
    const std::string& field, const std::string& path, size_t max_problems,
    const std::function<absl::StatusOr<std::optional<v1::Problem>>(absl::string_view)>& parse) {
  ASSIGN_OR_RETURN(std::string bytes, ReadMaybeGzip(field, path));
  std::vector<v1::Problem> out;
  std::set<std::string> ids;
  absl::StatusOr<JsonlStats> stats =
      ReadJsonlBytes(path, bytes, JsonlOptions(), [&](const JsonlLine& line) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<v1::Problem> p, parse(line.text));
        if (!p.has_value()) return absl::OkStatus();
        if (!ids.insert(p->id()).second) {
          return absl::InvalidArgumentError(absl::StrCat("duplicate id \"", p->id(), "\""));
        }
        if (out.size() >= max_problems) {
          // Not a bad line: the read stops here.
          return absl::OutOfRangeError(absl::StrCat("more than ", max_problems, " problems"));
        }
        out.push_back(std::move(*p));
        return absl::OkStatus();
      });
  if (absl::IsOutOfRange(stats.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", path, " has more than ", max_problems, " problems (the coordinator's limit)"));
  }
  if (!stats.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ": ", stats.status().message()));
  if (!stats->errors.empty()) return Refuse(field, stats->errors);
  return out;
}

}  // namespace

absl::StatusOr<std::vector<v1::Problem>> LoadTrainProblems(const std::string& path, const PromptTemplates& templates,
                                                           size_t max_problems) {
  ASSIGN_OR_RETURN(std::vector<v1::Problem> out,
                   LoadProblemLines("problems", path, max_problems,
                                    [&](absl::string_view line) -> absl::StatusOr<std::optional<v1::Problem>> {
                                      ASSIGN_OR_RETURN(v1::Problem p, ParseTrainLine(line, templates));
                                      return std::optional<v1::Problem>(std::move(p));
                                    }));
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat("problems: ", path, " holds no problems"));
  return out;
}

absl::StatusOr<std::vector<v1::Problem>> LoadEvalProblems(const v1::EvalSpec& eval, const PromptTemplates& templates,
                                                          size_t max_problems) {
  const std::string& path = eval.benchmark();
  const BenchmarkOptions options;
  ASSIGN_OR_RETURN(
      std::vector<v1::Problem> out,
      LoadProblemLines("eval.benchmark", path, max_problems,
                       [&](absl::string_view line) -> absl::StatusOr<std::optional<v1::Problem>> {
                         ASSIGN_OR_RETURN(Problem parsed, ParseProblem(line, options));
                         if (!eval.start_date().empty() || !eval.end_date().empty()) {
                           const std::string day = parsed.contest_date.substr(0, 10);
                           if (day.size() != 10 || (!eval.start_date().empty() && day < eval.start_date()) ||
                               (!eval.end_date().empty() && day > eval.end_date())) {
                             return std::optional<v1::Problem>();
                           }
                         }
                         v1::Problem p;
                         p.set_id(parsed.question_id);
                         ASSIGN_OR_RETURN(v1::Difficulty difficulty, ParseDifficulty(parsed.difficulty));
                         p.set_difficulty(difficulty);
                         ASSIGN_OR_RETURN(std::string prompt, FormatProblemPrompt(templates, parsed));
                         p.set_messages_json(Json::array({Json{{"role", "user"}, {"content", prompt}}}).dump());
                         p.set_benchmark_line(std::string(line));
                         return std::optional<v1::Problem>(std::move(p));
                       }));
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "eval.benchmark: ", path, " holds no problems",
        eval.start_date().empty() && eval.end_date().empty() ? "" : " inside eval.start_date..eval.end_date"));
  }
  return out;
}

}  // namespace ssd
