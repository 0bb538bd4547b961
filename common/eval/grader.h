// Grading: runs solutions against a problem's tests in a Sandbox, with
// LiveCodeBench's semantics (see harness.py), and records a verdict per test.
//
//   GradeSolution    one program, one problem, one sandbox run: all of the
//                    problem's tests run in one harness process that forks a
//                    child for the program and starts its tests one at a
//                    time, each from fresh globals, with its own timeout.
//   GradeBatch       several programs one after another in one sandbox
//                    run (bubblewrap only); the harness kills and cleans up
//                    between them, and what it did not finish is graded
//                    alone.
//   GradeSolutions   many, in parallel up to the sandbox's limit, in
//                    batches where the sandbox allows; results in input
//                    order. An identical program on the same problem is run
//                    once and its result copied (see grade_memo.h).
//
// A solution passes when every test passes. Its verdict is the first
// non-passing test's, "no_code" when there is no code to run. As in
// LiveCodeBench, grading stops at the first failing test by default; the
// tests after it are "not_run".
#ifndef SSD_COMMON_EVAL_GRADER_H_
#define SSD_COMMON_EVAL_GRADER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/eval/benchmark.h"
#include "common/eval/sandbox.h"

namespace ssd {

class GradeMemo;

enum class Verdict {
  kPass,
  kWrongAnswer,
  kRuntimeError,
  kTimeout,
  kMemoryLimit,
  kCompileError,
  kNoCode,  // nothing to run: empty code, or no fenced block in the output
  kNotRun,  // an earlier test failed
};
absl::string_view VerdictName(Verdict v);
absl::StatusOr<Verdict> ParseVerdict(absl::string_view name);

struct TestResult {
  Verdict verdict = Verdict::kNotRun;
  double time_s = 0;
  std::string detail;  // why it failed, for people
};

struct Solution {
  std::string question_id;
  std::string code;
};

struct SolutionResult {
  std::string question_id;
  bool passed = false;
  Verdict verdict = Verdict::kNoCode;
  std::vector<TestResult> tests;  // one per test of the problem
  // Set when the solution could not be graded at all (unknown question_id,
  // the sandbox failed); such results count as not passed.
  std::string error;
};

struct GradeOptions {
  double timeout_s = 6;  // per test, wall clock, as LiveCodeBench
  bool stop_at_first_failure = true;
  // Each test in a process of its own, so nothing a program changes can
  // reach its next test. By default a program's tests share one child,
  // each from fresh globals (see harness.py), which pays for one process
  // per program instead of one per test.
  bool fork_per_test = false;
  std::string python_path = "/usr/bin/python3";
  int64_t address_space_bytes = int64_t{4} << 30;  // per process
  int max_processes = 64;
  int64_t file_size_bytes = int64_t{256} << 20;  // caps what a program can print, too
  // Up to this many programs are graded one after another in one sandbox
  // run, where the sandbox gives each run its own PID namespace (see
  // harness.py); 1 gives every program a run of its own.
  int max_batch = 8;
  absl::Status Validate() const;
};

// Grades `code` on `problem`. For HumanEval-style problems a completion that
// does not define the entry point is appended to the prompt. Never fails:
// problems with the sandbox land in SolutionResult::error.
SolutionResult GradeSolution(const Problem& problem, absl::string_view code, Sandbox& sandbox,
                             const GradeOptions& options);

// Grades several programs in one sandbox run, in order: entry i is the
// result of programs[i] on *problems[i], or nullopt where the batch ended
// before it was graded (grade those alone). Exposed for tests.
std::vector<std::optional<SolutionResult>> GradeBatch(const std::vector<const Problem*>& problems,
                                                      const std::vector<absl::string_view>& programs, Sandbox& sandbox,
                                                      const GradeOptions& options);

// Grades each solution against its problem in `benchmark`, running up to
// sandbox.max_parallel() at once (in batches of up to options.max_batch
// programs per run where the sandbox allows it). Copies of one program on
// one problem are graded once; with `memo`, so are programs that it already
// holds, and the new results are added to it (a memo spans the calls of one
// eval).
std::vector<SolutionResult> GradeSolutions(const Benchmark& benchmark, const std::vector<Solution>& solutions,
                                           Sandbox& sandbox, const GradeOptions& options, GradeMemo* memo = nullptr);

// Exposed for tests: turns the harness's output lines into per-test results
// for a problem with `num_tests` tests.
std::vector<TestResult> ParseHarnessReport(const ProcessRunResult& run, int num_tests, bool stop_at_first_failure);

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_GRADER_H_
