#include "common/cli/eval_commands.h"

#include <glog/logging.h>

#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/cli/cli_util.h"
#include "common/eval/benchmark.h"
#include "common/eval/grader.h"
#include "common/eval/metrics.h"
#include "common/eval/sandbox.h"
#include "common/eval/solutions.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

struct EvalCodeFlags {
  std::string benchmark;
  std::string solutions;
  bool json = false;
  std::string results;  // also write the JSON here
  bool all_tests = false;
  bool unsafe_no_sandbox = false;
  bool lcb_v6 = false;
  std::string start_date, end_date;
  std::string bwrap = BwrapSandboxOptions{}.bwrap_path;
  int parallel = 2;
  GradeOptions grade;
  int64_t memory_mb = GradeOptions{}.address_space_bytes >> 20;
};

absl::StatusOr<std::unique_ptr<Sandbox>> MakeSandbox(const EvalCodeFlags& f) {
  if (f.parallel < 1) return absl::InvalidArgumentError("--parallel: must be at least 1");
  if (f.unsafe_no_sandbox) {
    LOG(WARNING) << "--unsafe-no-sandbox: generated code runs with this user's rights, unisolated";
    return std::unique_ptr<Sandbox>(new UnsafeSandbox(f.parallel));
  }
  BwrapSandboxOptions o;
  o.bwrap_path = f.bwrap;
  o.max_parallel = f.parallel;
  ASSIGN_OR_RETURN(auto sb, BwrapSandbox::Create(o));
  return std::unique_ptr<Sandbox>(std::move(sb));
}

int Passed(const std::vector<SolutionResult>& results, int* graded) {
  int passed = 0;
  *graded = 0;
  for (const SolutionResult& r : results) {
    if (!r.error.empty()) continue;
    ++*graded;
    passed += r.passed;
  }
  return passed;
}

void PrintText(const std::vector<SolutionResult>& results, const PassAtKReport& report) {
  for (const SolutionResult& r : results) {
    if (!r.error.empty()) {
      std::cout << absl::StrFormat("%-24s %-14s %s\n", r.question_id, "error", r.error);
      continue;
    }
    int ok = 0;
    const TestResult* first_bad = nullptr;
    int first_bad_index = 0;
    for (size_t i = 0; i < r.tests.size(); ++i) {
      ok += r.tests[i].verdict == Verdict::kPass;
      if (first_bad == nullptr && r.tests[i].verdict != Verdict::kPass) {
        first_bad = &r.tests[i];
        first_bad_index = static_cast<int>(i);
      }
    }
    std::string line = absl::StrFormat("%-24s %-14s %d/%d tests", r.question_id, VerdictName(r.verdict), ok,
                                       r.tests.size());
    if (first_bad != nullptr && !first_bad->detail.empty()) {
      absl::StrAppend(&line, "  (test ", first_bad_index, ": ", first_bad->detail.substr(0, 160), ")");
    }
    std::cout << line << "\n";
  }
  int graded = 0;
  const int passed = Passed(results, &graded);
  std::cout << absl::StrFormat("\npass rate: %d/%d = %.1f%%\n\n", passed, graded,
                               graded ? 100.0 * passed / graded : 0.0)
            << FormatPassAtKTable(report);
}

absl::Status RunEvalCode(const EvalCodeFlags& f) {
  BenchmarkOptions bo;
  if (f.lcb_v6) bo.dates = LiveCodeBenchV6Window();
  if (!f.start_date.empty()) bo.dates.start_date = f.start_date;
  if (!f.end_date.empty()) bo.dates.end_date = f.end_date;
  GradeOptions go = f.grade;
  go.stop_at_first_failure = !f.all_tests;
  go.address_space_bytes = f.memory_mb << 20;
  RETURN_IF_ERROR(go.Validate());
  ASSIGN_OR_RETURN(Benchmark bench, LoadBenchmark(f.benchmark, bo));
  ASSIGN_OR_RETURN(SolutionsFile sols, LoadSolutions(f.solutions));
  std::vector<std::string> errors = bench.errors;
  errors.insert(errors.end(), sols.errors.begin(), sols.errors.end());
  for (const std::string& e : errors) LOG(WARNING) << "skipped " << e;
  ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> sandbox, MakeSandbox(f));
  LOG(INFO) << "grading " << sols.solutions.size() << " solutions on " << bench.problems.size() << " problems, "
            << sandbox->max_parallel() << " at a time, sandbox " << sandbox->name();
  const std::vector<SolutionResult> results = GradeSolutions(bench, sols.solutions, *sandbox, go);
  const PassAtKReport report = ComputePassAtK(TallyOutcomes(bench, results));

  int graded = 0;
  const int passed = Passed(results, &graded);
  nlohmann::json j;
  j["pass_rate"] = graded ? static_cast<double>(passed) / graded : 0.0;
  j["passed"] = passed;
  j["graded"] = graded;
  nlohmann::json problems = nlohmann::json::array();
  for (const SolutionResult& r : results) problems.push_back(SolutionResultToJson(r));
  j["problems"] = std::move(problems);
  j["pass_at_k"] = PassAtKReportToJson(report);
  j["errors"] = errors;
  j["sandbox"] = std::string(sandbox->name());
  const std::string dumped = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (!f.results.empty()) RETURN_IF_ERROR(WriteFileAtomically(f.results, dumped + "\n"));
  if (f.json) {
    std::cout << dumped << std::endl;
  } else {
    PrintText(results, report);
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterEvalCommands(CLI::App& app, std::function<int()>* run) {
  auto f = std::make_shared<EvalCodeFlags>();
  CLI::App* e = app.add_subcommand(
      "eval-code", "Grade given solutions against a benchmark in the sandbox (no model); prints verdicts and pass@k");
  e->add_option("--benchmark", f->benchmark, "LiveCodeBench or HumanEval JSONL (.gz allowed)")->required();
  e->add_option("--solutions", f->solutions, "JSONL of {question_id, code} or {question_id, output}")->required();
  e->add_flag("--json", f->json, "print one JSON object instead of the table");
  e->add_option("--results", f->results, "also write the JSON object to this file");
  e->add_option("--timeout-s", f->grade.timeout_s, "per test, wall clock")->capture_default_str();
  e->add_option("--memory-mb", f->memory_mb, "address-space limit per process")->capture_default_str();
  e->add_option("--parallel", f->parallel, "programs run at once")->capture_default_str();
  e->add_flag("--all-tests", f->all_tests, "run every test instead of stopping at the first failure");
  e->add_flag("--lcb-v6", f->lcb_v6, "keep problems dated 2025-02-01..2025-05-31 (LiveCodeBench v6)");
  e->add_option("--start-date", f->start_date, "keep problems dated on or after YYYY-MM-DD");
  e->add_option("--end-date", f->end_date, "keep problems dated on or before YYYY-MM-DD");
  e->add_option("--python", f->grade.python_path, "interpreter inside the sandbox")->capture_default_str();
  e->add_option("--bwrap", f->bwrap, "bubblewrap executable")->capture_default_str();
  e->add_flag("--unsafe-no-sandbox", f->unsafe_no_sandbox,
              "run the code WITHOUT isolation (only for code you trust)");
  e->callback([f, run] { *run = [f] { return ReportStatus("eval-code", RunEvalCode(*f)); }; });
}

}  // namespace ssd
