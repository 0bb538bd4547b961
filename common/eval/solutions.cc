#include "common/eval/solutions.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/eval/prompting.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

absl::StatusOr<Solution> ParseSolution(absl::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("malformed JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("must be a JSON object");
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
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, size_t{16} << 30));
  SolutionsFile f;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    auto s = ParseSolution(line);
    if (!s.ok()) {
      f.errors.push_back(absl::StrCat(path, ":", line_no, ": ", s.status().message()));
      continue;
    }
    f.solutions.push_back(std::move(*s));
  }
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
