// Coding benchmarks: LiveCodeBench release JSONL and the HumanEval format.
//
// LiveCodeBench lines carry question_id, question_title, question_content,
// starter_code, difficulty, platform, contest_date, metadata (a JSON object,
// or a string holding one, with func_name for functional problems),
// public_test_cases (a JSON string) and private_test_cases (JSON, or
// base64(zlib(pickle(json string)))). HumanEval lines carry task_id, prompt,
// test and entry_point; task_id serves as the question id.
//
// A malformed line never aborts a load: it is skipped and reported as
// "FILE:LINE: what is wrong", so one bad record in a release does not cost
// the whole benchmark.
#ifndef SSD_COMMON_EVAL_BENCHMARK_H_
#define SSD_COMMON_EVAL_BENCHMARK_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

enum class TestType {
  kStdin,       // the program reads input on stdin and writes output
  kFunctional,  // Solution().<func_name>(*args), one JSON argument per line
  kHumanEval,   // the problem's own test code, check(<entry_point>)
};
absl::string_view TestTypeName(TestType t);

struct TestCase {
  std::string input;
  std::string output;
};

struct Problem {
  std::string question_id;
  std::string title;
  std::string content;       // the problem statement
  std::string starter_code;  // empty for stdin problems
  std::string difficulty;    // "easy", "medium", "hard"; "" when unknown
  std::string platform;
  std::string contest_date;  // as given, e.g. "2025-03-01T00:00:00"
  TestType test_type = TestType::kStdin;
  std::string func_name;  // kFunctional
  // kHumanEval: the test code defining check(candidate) and the function
  // name; the prompt is in starter_code.
  std::string humaneval_test;
  std::string entry_point;
  std::vector<TestCase> tests;  // public tests first, then private ones
  int num_public_tests = 0;
};

// Keeps problems whose contest_date (its YYYY-MM-DD prefix) lies in
// [start_date, end_date], both inclusive. An empty bound is open. When either
// bound is set, problems without a date are dropped.
struct DateFilter {
  std::string start_date;  // "YYYY-MM-DD"
  std::string end_date;
  bool active() const { return !start_date.empty() || !end_date.empty(); }
  absl::Status Validate() const;
};

// LiveCodeBench v6's window, February to May 2025, the SSD paper's split.
DateFilter LiveCodeBenchV6Window();

struct BenchmarkOptions {
  DateFilter dates;
  // Ceiling on the decompressed size of one line's private tests.
  size_t max_test_bytes = size_t{1} << 30;
  absl::Status Validate() const;
};

struct Benchmark {
  std::vector<Problem> problems;
  // "FILE:LINE: message" for every skipped line.
  std::vector<std::string> errors;
  int filtered_by_date = 0;

  // nullptr when the id is unknown.
  const Problem* Find(absl::string_view question_id) const;

  absl::flat_hash_map<std::string, size_t> index;  // question_id -> problems[i]
};

// Reads a JSONL file, or a gzip-compressed one when the name ends in ".gz".
// Fails only when the file cannot be read or the options are invalid;
// problems with bad fields are reported in `errors`. A duplicate question_id
// is an error on the later line.
absl::StatusOr<Benchmark> LoadBenchmark(const std::string& path, const BenchmarkOptions& options = {});

// Parses one LiveCodeBench or HumanEval record (the JSON text of one line).
absl::StatusOr<Problem> ParseProblem(absl::string_view json_line, const BenchmarkOptions& options = {});

// Decodes a private_test_cases value: a JSON list, or the compressed form.
// Exposed for tests.
absl::StatusOr<std::string> DecodePrivateTests(absl::string_view text, size_t max_bytes);

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_BENCHMARK_H_
