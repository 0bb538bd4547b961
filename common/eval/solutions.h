// Solutions to grade without a model: JSONL with one {question_id, code} or
// {question_id, output} per line (HumanEval's task_id may stand in for
// question_id). "output" is raw model output; the code is extracted from it
// as LiveCodeBench does. As with benchmarks, bad lines are reported as
// "FILE:LINE: message" and skipped.
#ifndef SSD_COMMON_EVAL_SOLUTIONS_H_
#define SSD_COMMON_EVAL_SOLUTIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/eval/grader.h"
#include "nlohmann/json.hpp"

namespace ssd {

struct SolutionsFile {
  std::vector<Solution> solutions;
  std::vector<std::string> errors;
};

// Fails only when the file cannot be read.
absl::StatusOr<SolutionsFile> LoadSolutions(const std::string& path);

// {"question_id", "passed", "verdict", "tests": [{"verdict", "time_s",
// "detail"}], and "error" when it could not be graded}.
nlohmann::json SolutionResultToJson(const SolutionResult& result);

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_SOLUTIONS_H_
