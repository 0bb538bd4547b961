#include "common/eval/solutions.h"

#include "absl/strings/str_cat.h"
#include "common/eval/prompting.h"
#include "common/util/json.h"
#include "common/util/jsonl.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

absl::StatusOr<Solution> ParseSolution(absl::string_view line) {
  ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonObject<nlohmann::json>(line));
  Solution s;
  const char* id_key = j.contains("question_id") ? "question_id" : "task_id";
  if (!j.contains(id_key) || !j[id_key].is_string() || j[id_key].get<std::string>().empty()) {
    return absl::InvalidArgumentError("needs a string \"question_id\" (or \"task_id\")");
  }
  s.question_id = j[id_key].get<std::string>();
  if (j.contains("code")) {
    if (!j["code"].is_string()) return absl::InvalidArgumentError("\"code\" must be a string");
    s.code = j["code"].get<std::string>();
  } else if (j.contains("output")) {
    if (!j["output"].is_string()) return absl::InvalidArgumentError("\"output\" must be a string");
    s.code = ExtractCode(j["output"].get<std::string>());
  } else {
    return absl::InvalidArgumentError("needs \"code\" or \"output\"");
  }
  return s;
}

}  // namespace

absl::StatusOr<SolutionsFile> LoadSolutions(const std::string& path) {
  SolutionsFile f;
  ASSIGN_OR_RETURN(JsonlStats stats, ReadJsonlFile(path, JsonlOptions(), [&](const JsonlLine& line) -> absl::Status {
                     ASSIGN_OR_RETURN(Solution s, ParseSolution(line.text));
                     f.solutions.push_back(std::move(s));
                     return absl::OkStatus();
                   }));
  f.errors = std::move(stats.errors);
  return f;
}

nlohmann::json SolutionResultToJson(const SolutionResult& r) {
  nlohmann::json j;
  j["question_id"] = r.question_id;
  j["passed"] = r.passed;
  j["verdict"] = std::string(VerdictName(r.verdict));
  nlohmann::json tests = nlohmann::json::array();
  for (const TestResult& t : r.tests) {
    tests.push_back({{"verdict", std::string(VerdictName(t.verdict))}, {"time_s", t.time_s}, {"detail", t.detail}});
  }
  j["tests"] = std::move(tests);
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

}  // namespace ssd
