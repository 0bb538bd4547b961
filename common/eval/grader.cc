#include "common/eval/grader.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/eval/grade_memo.h"
#include "common/eval/harness_script.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

constexpr std::pair<Verdict, const char*> kVerdictNames[] = {
    {Verdict::kPass, "pass"},       {Verdict::kWrongAnswer, "wrong_answer"}, {Verdict::kRuntimeError, "runtime_error"},
    {Verdict::kTimeout, "timeout"}, {Verdict::kMemoryLimit, "memory_limit"}, {Verdict::kCompileError, "compile_error"},
    {Verdict::kNoCode, "no_code"},  {Verdict::kNotRun, "not_run"},
};

// Python start-up and the prelude imports, before the first test.
constexpr double kStartupBudgetS = 15;

nlohmann::json HarnessItem(const Problem& p, absl::string_view code, const GradeOptions& o) {
  nlohmann::json job;
  job["mode"] = std::string(TestTypeName(p.test_type));
  job["code"] = std::string(code);
  job["func_name"] = p.func_name;
  job["test_code"] = p.humaneval_test;
  job["entry_point"] = p.entry_point;
  job["timeout_s"] = o.timeout_s;
  job["stop_at_first_failure"] = o.stop_at_first_failure;
  job["fork_per_test"] = o.fork_per_test;
  nlohmann::json tests = nlohmann::json::array();
  for (const TestCase& t : p.tests) tests.push_back({{"input", t.input}, {"output", t.output}});
  job["tests"] = std::move(tests);
  return job;
}

// Test data comes from files we do not control; never let a stray invalid
// byte abort the job.
std::string DumpJob(const nlohmann::json& job) {
  return job.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What runs: for HumanEval-style problems a completion of the prompt gets
// the prompt in front.
std::string ProgramFor(const Problem& problem, absl::string_view code) {
  std::string program(code);
  if (problem.test_type == TestType::kHumanEval &&
      !absl::StrContains(program, absl::StrCat("def ", problem.entry_point, "("))) {
    program = absl::StrCat(problem.starter_code, program);
  }
  return program;
}

// One harness run: python with the harness on `job`, under the limits.
SandboxCommand HarnessCommand(std::string job, double budget_s, const GradeOptions& options) {
  SandboxCommand cmd;
  cmd.argv = {options.python_path, "-I", "-c", std::string(HarnessScript())};
  cmd.env = {"PATH=/usr/bin:/bin", "HOME=/tmp",         "TMPDIR=/tmp",
             "LANG=C.UTF-8",       "PYTHONUTF8=1",      "PYTHONDONTWRITEBYTECODE=1",
             "PYTHONHASHSEED=0",   "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1",
             "MKL_NUM_THREADS=1"};
  cmd.stdin_data = std::move(job);
  cmd.limits.wall_s = budget_s;
  cmd.limits.cpu_s = static_cast<int64_t>(std::ceil(budget_s));
  cmd.limits.address_space_bytes = options.address_space_bytes;
  cmd.limits.max_processes = options.max_processes;
  cmd.limits.file_size_bytes = options.file_size_bytes;
  return cmd;
}

SolutionResult FromTests(const Problem& problem, std::vector<TestResult> tests) {
  SolutionResult result;
  result.question_id = problem.question_id;
  result.tests = std::move(tests);
  result.passed = !problem.tests.empty();
  result.verdict = Verdict::kPass;
  for (const TestResult& t : result.tests) {
    if (t.verdict != Verdict::kPass && t.verdict != Verdict::kNotRun) {
      result.passed = false;
      result.verdict = t.verdict;
      break;
    }
  }
  return result;
}

std::string Tail(const std::string& s, size_t n) { return s.size() <= n ? s : "..." + s.substr(s.size() - n); }

}  // namespace

absl::string_view VerdictName(Verdict v) {
  for (const auto& [verdict, name] : kVerdictNames) {
    if (verdict == v) return name;
  }
  return "?";
}

absl::StatusOr<Verdict> ParseVerdict(absl::string_view name) {
  for (const auto& [verdict, n] : kVerdictNames) {
    if (name == n) return verdict;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown verdict \"", name, "\""));
}

absl::Status GradeOptions::Validate() const {
  if (!(timeout_s > 0) || timeout_s > 3600) return absl::InvalidArgumentError("timeout_s: must be in (0, 3600]");
  if (python_path.empty() || python_path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("python_path: \"", python_path, "\" must be an absolute path"));
  }
  if (address_space_bytes < (int64_t{128} << 20)) {
    return absl::InvalidArgumentError("address_space_bytes: must be at least 128 MiB (Python needs it to start)");
  }
  if (max_processes < 2) return absl::InvalidArgumentError("max_processes: must be at least 2 (harness and test)");
  if (file_size_bytes <= 0) return absl::InvalidArgumentError("file_size_bytes: must be positive");
  if (max_batch < 1 || max_batch > 1024) return absl::InvalidArgumentError("max_batch: must be in [1, 1024]");
  return absl::OkStatus();
}

std::vector<TestResult> ParseHarnessReport(const ProcessRunResult& run, int num_tests, bool stop_at_first_failure) {
  std::vector<TestResult> tests(static_cast<size_t>(num_tests));
  std::vector<bool> seen(tests.size(), false);
  bool done = false, failed = false;
  for (absl::string_view line : absl::StrSplit(run.out, '\n', absl::SkipWhitespace())) {
    nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;
    if (j.value("done", false)) {
      done = true;
      continue;
    }
    const int i = j.value("test", -1);
    auto v = ParseVerdict(j.value("verdict", std::string()));
    if (i < 0 || i >= num_tests || !v.ok() || seen[i]) continue;
    seen[i] = true;
    tests[i].verdict = *v;
    tests[i].time_s = j.value("time_s", 0.0);
    tests[i].detail = j.value("detail", std::string());
    if (*v != Verdict::kPass) failed = true;
  }
  // The first test without a report is the one the harness died in, unless
  // it stopped on purpose after a failure.
  bool blamed = false;
  for (size_t i = 0; i < tests.size(); ++i) {
    if (seen[i]) continue;
    if (blamed || (done && (failed && stop_at_first_failure))) {
      tests[i].verdict = Verdict::kNotRun;
      continue;
    }
    blamed = true;
    if (run.wall_timeout) {
      tests[i].verdict = Verdict::kTimeout;
      tests[i].detail = "the sandbox's wall-clock limit killed the run";
    } else {
      tests[i].verdict = Verdict::kRuntimeError;
      tests[i].detail = absl::StrCat("the harness ended without a verdict (exit ", run.exit_code, ", signal ",
                                     run.signal, "): ", Tail(run.err, 300));
    }
  }
  return tests;
}

SolutionResult GradeSolution(const Problem& problem, absl::string_view code, Sandbox& sandbox,
                             const GradeOptions& options) {
  SolutionResult result;
  result.question_id = problem.question_id;
  const int n = static_cast<int>(problem.tests.size());
  if (auto st = options.Validate(); !st.ok()) {
    result.error = std::string(st.message());
    return result;
  }
  if (absl::StripAsciiWhitespace(code).empty()) {
    result.verdict = Verdict::kNoCode;
    result.tests.assign(n, TestResult{Verdict::kNoCode, 0, "no code"});
    return result;
  }
  const double budget_s = kStartupBudgetS + n * (options.timeout_s + 1.0);
  auto run =
      sandbox.Run(HarnessCommand(DumpJob(HarnessItem(problem, ProgramFor(problem, code), options)), budget_s, options));
  if (!run.ok()) {
    result.error = absl::StrCat("sandbox (", sandbox.name(), "): ", run.status().message());
    result.verdict = Verdict::kRuntimeError;
    return result;
  }
  return FromTests(problem, ParseHarnessReport(*run, n, options.stop_at_first_failure));
}

std::vector<std::optional<SolutionResult>> GradeBatch(const std::vector<const Problem*>& problems,
                                                      const std::vector<absl::string_view>& programs, Sandbox& sandbox,
                                                      const GradeOptions& options) {
  std::vector<std::optional<SolutionResult>> results(programs.size());
  if (problems.size() != programs.size() || programs.empty() || !options.Validate().ok()) return results;
  nlohmann::json items = nlohmann::json::array();
  std::vector<size_t> item_of;  // item -> index into programs
  double budget_s = kStartupBudgetS;
  for (size_t i = 0; i < programs.size(); ++i) {
    if (absl::StripAsciiWhitespace(programs[i]).empty()) {
      results[i] = GradeSolution(*problems[i], programs[i], sandbox, options);  // no_code, no run
      continue;
    }
    items.push_back(HarnessItem(*problems[i], ProgramFor(*problems[i], programs[i]), options));
    item_of.push_back(i);
    // Each item: its tests, and a second for the clean-up before the next.
    budget_s += 1.0 + static_cast<double>(problems[i]->tests.size()) * (options.timeout_s + 1.0);
  }
  if (item_of.empty()) return results;
  nlohmann::json job;
  job["items"] = std::move(items);
  auto run = sandbox.Run(HarnessCommand(DumpJob(job), budget_s, options));
  if (!run.ok()) return results;  // every item is graded again, alone
  // Each item's lines, as a one-program report; only items with their own
  // "done" line are complete. Lines after a limit cut are never complete.
  std::vector<std::string> lines(item_of.size());
  std::vector<bool> done(item_of.size(), false);
  for (absl::string_view line : absl::StrSplit(run->out, '\n', absl::SkipWhitespace())) {
    nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("item") || !j["item"].is_number_integer()) continue;
    const int64_t k = j["item"].get<int64_t>();
    if (k < 0 || k >= static_cast<int64_t>(item_of.size()) || done[k]) continue;
    if (j.value("done", false)) {
      done[k] = true;
      continue;
    }
    absl::StrAppend(&lines[k], line, "\n");
  }
  for (size_t k = 0; k < item_of.size(); ++k) {
    if (!done[k]) continue;
    const Problem& problem = *problems[item_of[k]];
    ProcessRunResult item;
    item.out = absl::StrCat(lines[k], "{\"done\": true}\n");
    results[item_of[k]] = FromTests(
        problem, ParseHarnessReport(item, static_cast<int>(problem.tests.size()), options.stop_at_first_failure));
  }
  return results;
}

std::vector<SolutionResult> GradeSolutions(const Benchmark& benchmark, const std::vector<Solution>& solutions,
                                           Sandbox& sandbox, const GradeOptions& options, GradeMemo* memo) {
  GradeMemo local;
  GradeMemo& known = memo != nullptr ? *memo : local;
  std::vector<SolutionResult> results(solutions.size());
  // Which answers run: the first copy of each program not already known.
  std::vector<size_t> runs;
  std::vector<std::pair<size_t, size_t>> copies;  // (answer, the run it copies)
  absl::flat_hash_map<std::string, size_t> first;
  int64_t reused = 0;
  for (size_t i = 0; i < solutions.size(); ++i) {
    std::string key = GradeMemo::Key(solutions[i].question_id, solutions[i].code);
    if (std::optional<SolutionResult> r = known.FindKey(key)) {
      results[i] = std::move(*r);
      ++reused;
      continue;
    }
    auto [it, fresh] = first.emplace(std::move(key), i);
    if (fresh) {
      runs.push_back(i);
    } else {
      copies.emplace_back(i, it->second);
    }
  }
  // The runs that need the sandbox, cut into batches: several programs per
  // sandbox run where the sandbox allows it, small enough that every slot
  // gets about two batches.
  std::vector<size_t> sandboxed;
  std::vector<const Problem*> problem_of(solutions.size(), nullptr);
  for (size_t i : runs) {
    problem_of[i] = benchmark.Find(solutions[i].question_id);
    if (problem_of[i] == nullptr) {
      results[i].question_id = solutions[i].question_id;
      results[i].error = absl::StrCat("question_id \"", solutions[i].question_id, "\" is not in the benchmark");
    } else if (absl::StripAsciiWhitespace(solutions[i].code).empty()) {
      results[i] = GradeSolution(*problem_of[i], solutions[i].code, sandbox, options);  // no_code, no run
    } else {
      sandboxed.push_back(i);
    }
  }
  const size_t slots = static_cast<size_t>(std::max(1, sandbox.max_parallel()));
  size_t per_batch = 1;
  if (sandbox.own_pid_namespace() && options.max_batch > 1) {
    per_batch =
        std::clamp<size_t>((sandboxed.size() + 2 * slots - 1) / (2 * slots), 1, static_cast<size_t>(options.max_batch));
  }
  std::vector<std::vector<size_t>> batches;
  for (size_t b = 0; b < sandboxed.size(); b += per_batch) {
    batches.emplace_back(sandboxed.begin() + static_cast<std::ptrdiff_t>(b),
                         sandboxed.begin() + static_cast<std::ptrdiff_t>(std::min(b + per_batch, sandboxed.size())));
  }
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t j = next++; j < batches.size(); j = next++) {
      const std::vector<size_t>& batch = batches[j];
      std::vector<std::optional<SolutionResult>> graded(batch.size());
      if (batch.size() > 1) {
        std::vector<const Problem*> problems;
        std::vector<absl::string_view> programs;
        for (size_t i : batch) {
          problems.push_back(problem_of[i]);
          programs.push_back(solutions[i].code);
        }
        graded = GradeBatch(problems, programs, sandbox, options);
      }
      for (size_t k = 0; k < batch.size(); ++k) {
        const size_t i = batch[k];
        // Not graded in the batch (it aborted or died): alone, as always.
        results[i] = graded[k].has_value() ? std::move(*graded[k])
                                           : GradeSolution(*problem_of[i], solutions[i].code, sandbox, options);
      }
    }
  };
  const int threads = std::max(1, std::min<int>(sandbox.max_parallel(), static_cast<int>(batches.size())));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
  for (size_t i : runs) known.Put(solutions[i], results[i]);
  for (const auto& [i, from] : copies) results[i] = results[from];
  known.CountReused(reused + static_cast<int64_t>(copies.size()));
  return results;
}

}  // namespace ssd
