// Grading correctness: the LiveCodeBench-format fixture (stdin and
// functional problems, compressed private tests) and every HumanEval
// canonical solution through the real sandbox, LiveCodeBench's comparison
// rules, and the grader's handling of harness failures with a fake sandbox.
#include "common/eval/grader.h"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/eval/fake_sandbox.h"
#include "common/eval/prompting.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/test_env.h"

namespace ssd {

void PrintTo(Verdict v, std::ostream* os) { *os << VerdictName(v); }

namespace {

std::unique_ptr<Sandbox> RealSandbox() {
  BwrapSandboxOptions o;
  o.max_parallel = 2;
  auto sb = BwrapSandbox::Create(o);
  if (!sb.ok()) return nullptr;
  return std::move(*sb);
}

// Short enough to keep the too-slow fixtures quick, long enough that a
// loaded machine (ctest -j, a neighbour compiling) does not time out the rest.
GradeOptions FastOptions() {
  GradeOptions o;
  o.timeout_s = 4;
  o.address_space_bytes = int64_t{1} << 30;
  return o;
}

Problem StdinProblem(std::vector<TestCase> tests) {
  Problem p;
  p.question_id = "stdin";
  p.test_type = TestType::kStdin;
  p.tests = std::move(tests);
  return p;
}

struct FixtureSolution {
  Solution solution;
  std::string expect;
  int line = 0;
};

std::vector<FixtureSolution> ReadFixtureSolutions(const std::string& path) {
  std::ifstream in(path);
  std::vector<FixtureSolution> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const nlohmann::json j = nlohmann::json::parse(line);
    FixtureSolution s;
    s.solution.question_id = j["question_id"];
    s.solution.code = j.contains("code") ? j["code"].get<std::string>() : ExtractCode(j["output"].get<std::string>());
    s.expect = j["expect"];
    s.line = n;
    out.push_back(std::move(s));
  }
  return out;
}

class SandboxedGraderTest : public testing::Test {
 protected:
  void SetUp() override {
    sandbox_ = RealSandbox();
    if (sandbox_ == nullptr) SSD_SKIP_OR_FAIL("bubblewrap cannot run a sandbox here");
  }
  std::unique_ptr<Sandbox> sandbox_;
};

TEST_F(SandboxedGraderTest, LiveCodeBenchFixtureSolutionsGetTheirExpectedVerdicts) {
  const std::string dir = SourceDir() + "/tests/fixtures/eval";
  auto bench = LoadBenchmark(dir + "/lcb_mini.jsonl");
  ASSERT_TRUE(bench.ok()) << bench.status();
  ASSERT_TRUE(bench->errors.empty()) << bench->errors[0];
  const std::vector<FixtureSolution> fixtures = ReadFixtureSolutions(dir + "/lcb_mini_solutions.jsonl");
  ASSERT_GE(fixtures.size(), 18u);
  std::vector<Solution> solutions;
  for (const auto& f : fixtures) solutions.push_back(f.solution);
  const std::vector<SolutionResult> results = GradeSolutions(*bench, solutions, *sandbox_, FastOptions());
  ASSERT_EQ(results.size(), fixtures.size());
  int correct_passed = 0, correct = 0, wrong_passed = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const SolutionResult& r = results[i];
    const std::string where = absl::StrCat("solution line ", fixtures[i].line, " (", r.question_id, ")");
    EXPECT_TRUE(r.error.empty()) << where << ": " << r.error;
    EXPECT_EQ(VerdictName(r.verdict), fixtures[i].expect)
        << where << ": first failing test says " << (r.tests.empty() ? "" : r.tests[0].detail);
    const Problem* p = bench->Find(r.question_id);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(r.tests.size(), p->tests.size()) << where;
    if (fixtures[i].expect == "pass") {
      ++correct;
      correct_passed += r.passed;
      for (const TestResult& t : r.tests) EXPECT_EQ(t.verdict, Verdict::kPass) << where << ": " << t.detail;
    } else {
      wrong_passed += r.passed;
    }
  }
  EXPECT_EQ(correct_passed, correct);  // 100%
  EXPECT_EQ(wrong_passed, 0);          // 0%
}

TEST_F(SandboxedGraderTest, RunningAllTestsRecordsAVerdictForEachOne) {
  auto bench = LoadBenchmark(SourceDir() + "/tests/fixtures/eval/lcb_mini.jsonl");
  ASSERT_TRUE(bench.ok());
  const Problem* p = bench->Find("fx_sum");
  ASSERT_NE(p, nullptr);
  GradeOptions o = FastOptions();
  o.stop_at_first_failure = false;
  // Right only when the list has a single number.
  const SolutionResult r =
      GradeSolution(*p, "input()\nx = input().split()\nprint(x[0] if len(x) == 1 else -1)\n", *sandbox_, o);
  ASSERT_EQ(r.tests.size(), 5u);
  EXPECT_EQ(r.tests[0].verdict, Verdict::kWrongAnswer);
  EXPECT_EQ(r.tests[1].verdict, Verdict::kPass);
  for (int i = 2; i < 5; ++i) EXPECT_EQ(r.tests[i].verdict, Verdict::kWrongAnswer) << i;
  EXPECT_EQ(r.verdict, Verdict::kWrongAnswer);
  // By default, as LiveCodeBench, grading stops at the first failure.
  const SolutionResult stopped = GradeSolution(*p, "print(0)", *sandbox_, FastOptions());
  EXPECT_EQ(stopped.tests[0].verdict, Verdict::kWrongAnswer);
  EXPECT_EQ(stopped.tests[1].verdict, Verdict::kNotRun);
}

TEST_F(SandboxedGraderTest, StdinOutputsCompareStrippedLineByLineWithDecimalFallback) {
  const Problem p = StdinProblem({{"", "1.0 2\n  3  \n\n"}});
  EXPECT_TRUE(GradeSolution(p, "print('1 2.00')\nprint('3')", *sandbox_, FastOptions()).passed);
  EXPECT_TRUE(GradeSolution(p, "print('\\n 1.000 2e0 \\n3\\n\\n')", *sandbox_, FastOptions()).passed);
  // Same numbers, different line structure; and a non-number differs.
  EXPECT_FALSE(GradeSolution(p, "print('1 2 3')", *sandbox_, FastOptions()).passed);
  EXPECT_FALSE(GradeSolution(p, "print('1 2')\nprint('three')", *sandbox_, FastOptions()).passed);
  const Problem words = StdinProblem({{"", "Yes\n"}});
  EXPECT_FALSE(GradeSolution(words, "print('yes')", *sandbox_, FastOptions()).passed);
}

TEST_F(SandboxedGraderTest, FunctionalResultsCrossAsPlainJsonSoRiggedEqualityFails) {
  Problem p;
  p.question_id = "f";
  p.test_type = TestType::kFunctional;
  p.func_name = "f";
  p.tests = {{"[1, 2]", "[1, 2]"}};
  EXPECT_TRUE(
      GradeSolution(p, "class Solution:\n  def f(self, x): return tuple(x)\n", *sandbox_, FastOptions()).passed);
  const SolutionResult rigged = GradeSolution(
      p, "class Any:\n  def __eq__(self, o): return True\nclass Solution:\n  def f(self, x): return Any()\n", *sandbox_,
      FastOptions());
  EXPECT_EQ(rigged.verdict, Verdict::kWrongAnswer) << rigged.tests[0].detail;
  const SolutionResult subclass = GradeSolution(
      p, "class L(list):\n  def __eq__(self, o): return True\nclass Solution:\n  def f(self, x): return L([0])\n",
      *sandbox_, FastOptions());
  EXPECT_EQ(subclass.verdict, Verdict::kWrongAnswer);
}

TEST_F(SandboxedGraderTest, EachTestStartsFromFreshState) {
  Problem p;
  p.question_id = "state";
  p.test_type = TestType::kFunctional;
  p.func_name = "count";
  p.tests = {{"0", "1"}, {"0", "1"}, {"0", "1"}};
  const SolutionResult r = GradeSolution(
      p, "calls = 0\nclass Solution:\n  def count(self, _):\n    global calls\n    calls += 1\n    return calls\n",
      *sandbox_, FastOptions());
  EXPECT_TRUE(r.passed) << r.tests[1].detail;
}

// A program's tests share one child until a test ends it; these pin what
// carries over and what does not.
TEST_F(SandboxedGraderTest, TestsAfterACrashOrATimeoutRunInANewChild) {
  GradeOptions o = FastOptions();
  o.timeout_s = 1;
  o.stop_at_first_failure = false;
  const Problem p = StdinProblem({{"1", "1"}, {"2", "2"}, {"3", "3"}, {"4", "4"}});
  const SolutionResult r = GradeSolution(p,
                                         "import os\n"
                                         "x = int(input())\n"
                                         "if x == 2: os._exit(3)\n"
                                         "while x == 3: pass\n"
                                         "print(x)\n",
                                         *sandbox_, o);
  ASSERT_EQ(r.tests.size(), 4u);
  EXPECT_EQ(r.tests[0].verdict, Verdict::kPass) << r.tests[0].detail;
  EXPECT_EQ(r.tests[1].verdict, Verdict::kRuntimeError);
  EXPECT_EQ(r.tests[1].detail, "exited (code 3) before finishing");
  EXPECT_EQ(r.tests[2].verdict, Verdict::kTimeout);
  EXPECT_EQ(r.tests[3].verdict, Verdict::kPass) << r.tests[3].detail;
}

TEST_F(SandboxedGraderTest, BuiltinsStdinAndTheRecursionLimitAreRestoredBetweenTests) {
  const Problem p = StdinProblem({{"1", "1"}, {"2", "2"}, {"3", "3"}});
  // Each test breaks something shared; the next one needs it whole.
  const SolutionResult r = GradeSolution(p,
                                         "import builtins, sys\n"
                                         "class Box: pass\n"
                                         "x = int(input())\n"
                                         "def depth(n): return 0 if n == 0 else 1 + depth(n - 1)\n"
                                         "depth(5000)\n"
                                         "print(x)\n"
                                         "builtins.__build_class__ = None\n"
                                         "sys.setrecursionlimit(100)\n"
                                         "sys.stdin = None\n",
                                         *sandbox_, FastOptions());
  EXPECT_TRUE(r.passed) << r.tests[1].detail << r.tests[2].detail;
}

TEST_F(SandboxedGraderTest, AThreadLeftRunningNeverReachesTheNextTest) {
  // Test 1 leaves a thread that, a second later, keeps taking sys.stdout
  // away; test 2 prints after two seconds. Sharing test 1's process, it
  // would print into nothing.
  const Problem p = StdinProblem({{"1", "1"}, {"2", "2"}});
  const SolutionResult r = GradeSolution(p,
                                         "import sys, threading, time\n"
                                         "x = int(input())\n"
                                         "def spoil():\n"
                                         "    time.sleep(1)\n"
                                         "    while True:\n"
                                         "        sys.stdout = None\n"
                                         "        time.sleep(0.001)\n"
                                         "if x == 1: threading.Thread(target=spoil, daemon=True).start()\n"
                                         "if x == 2: time.sleep(2)\n"
                                         "print(x)\n",
                                         *sandbox_, FastOptions());
  EXPECT_TRUE(r.passed) << r.tests[0].detail << " / " << r.tests[1].detail;
}

TEST_F(SandboxedGraderTest, AProgramThatClosesEveryDescriptorIsStillGraded) {
  const Problem p = StdinProblem({{"1", "1"}, {"2", "2"}});
  const SolutionResult r =
      GradeSolution(p, "import os\nx = input()\nos.closerange(3, 4096)\nprint(x)\n", *sandbox_, FastOptions());
  EXPECT_TRUE(r.passed) << r.tests[0].detail << r.tests[1].detail;
}

TEST_F(SandboxedGraderTest, OutputLeftInAWriterAfterATestNeverReachesTheNext) {
  // The writer holds "x" unflushed and sits in a cycle that the second
  // collection moves to the oldest generation, so only a full collection
  // frees (and flushes) it. The program's own collection at its start would
  // flush the last test's writer into this test's output: "x2", not "2".
  const Problem p = StdinProblem({{"1", "1"}, {"2", "2"}});
  const SolutionResult r = GradeSolution(p,
                                         "import gc\n"
                                         "gc.collect()\n"
                                         "w = open(1, 'w', closefd=False)\n"
                                         "w.write('x')\n"
                                         "def keep(): return w\n"
                                         "gc.collect()\n"
                                         "print(input())\n",
                                         *sandbox_, FastOptions());
  EXPECT_TRUE(r.passed) << r.tests[1].detail;
}

TEST_F(SandboxedGraderTest, NumpyAndPandasImportInsideTheSandbox) {
  // They need /usr plus /etc/alternatives (the BLAS link) in the sandbox.
  const Problem p = StdinProblem({{"1 2 3\n", "6\n"}});
  const SolutionResult r = GradeSolution(
      p, "import numpy as np, pandas as pd\nprint(int(pd.Series(np.array(input().split(), dtype=int)).sum()))",
      *sandbox_, FastOptions());
  EXPECT_TRUE(r.passed) << r.tests[0].detail;
}

TEST_F(SandboxedGraderTest, AllHumanEvalCanonicalSolutionsPass) {
  const std::string path = SharedDataFile("HumanEval.jsonl.gz");
  std::ifstream probe(path);
  if (!probe) SSD_SKIP_OR_FAIL(path + " is absent (set SSD_SHARED_DATA to its folder)");
  auto bench = LoadBenchmark(path);
  ASSERT_TRUE(bench.ok()) << bench.status();
  ASSERT_EQ(bench->problems.size(), 164u);
  // The canonical solutions are completions of the prompt, so they pass as
  // given (the grader prepends the prompt) and as the full function.
  std::vector<Solution> solutions;
  {
    // Re-read the canonical_solution field, which the loader does not keep.
    std::string text;
    std::FILE* f = popen(("gzip -dc '" + path + "'").c_str(), "r");
    ASSERT_NE(f, nullptr);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
    pclose(f);
    std::istringstream lines(text);
    std::string line;
    int i = 0;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      const nlohmann::json j = nlohmann::json::parse(line);
      const std::string completion = j["canonical_solution"];
      // Alternate the two shapes a model's answer can take.
      solutions.push_back({j["task_id"], i++ % 2 == 0 ? completion : j["prompt"].get<std::string>() + completion});
    }
  }
  GradeOptions o;  // default 6 s timeout, as LiveCodeBench
  const std::vector<SolutionResult> results = GradeSolutions(*bench, solutions, *sandbox_, o);
  int passed = 0;
  for (const SolutionResult& r : results) {
    passed += r.passed;
    EXPECT_TRUE(r.passed) << r.question_id << ": " << VerdictName(r.verdict) << " "
                          << (r.tests.empty() ? r.error : r.tests[0].detail);
  }
  EXPECT_EQ(passed, 164);
  // Not vacuous: a wrong body fails the same tests.
  const SolutionResult wrong = GradeSolution(bench->problems[0], "    return None\n", *sandbox_, o);
  EXPECT_EQ(wrong.verdict, Verdict::kWrongAnswer) << wrong.tests[0].detail;
}

// --- Grader logic with a fake sandbox: no Python, no bubblewrap. ---

ProcessRunResult HarnessOutput(std::string out) {
  ProcessRunResult r;
  r.exit_code = 0;
  r.out = std::move(out);
  return r;
}

TEST(GraderTest, HarnessDeathBlamesTheRunningTestAndSkipsTheRest) {
  ProcessRunResult r = HarnessOutput(R"({"test": 0, "verdict": "pass", "time_s": 0.1, "detail": ""})"
                                     "\n");
  r.exit_code = -1;
  r.signal = 9;
  r.err = "Killed";
  const std::vector<TestResult> t = ParseHarnessReport(r, 3, true);
  EXPECT_EQ(t[0].verdict, Verdict::kPass);
  EXPECT_EQ(t[1].verdict, Verdict::kRuntimeError);
  EXPECT_NE(t[1].detail.find("signal 9"), std::string::npos) << t[1].detail;
  EXPECT_EQ(t[2].verdict, Verdict::kNotRun);
}

TEST(GraderTest, TheSandboxWallClockKillIsATimeout) {
  ProcessRunResult r = HarnessOutput("");
  r.wall_timeout = true;
  const std::vector<TestResult> t = ParseHarnessReport(r, 2, false);
  EXPECT_EQ(t[0].verdict, Verdict::kTimeout);
  EXPECT_EQ(t[1].verdict, Verdict::kNotRun);
}

TEST(GraderTest, ForgedOrGarbledReportLinesAreIgnored) {
  const ProcessRunResult r = HarnessOutput(
      "garbage\n{\"test\": 7, \"verdict\": \"pass\"}\n{\"test\": 0, \"verdict\": \"great\"}\n"
      "{\"test\": 0, \"verdict\": \"wrong_answer\"}\n{\"test\": 0, \"verdict\": \"pass\"}\n{\"done\": true}\n");
  const std::vector<TestResult> t = ParseHarnessReport(r, 1, true);
  EXPECT_EQ(t[0].verdict, Verdict::kWrongAnswer);  // the first report for a test stands
}

TEST(GraderTest, EmptyCodeIsRecordedAsNoCodeWithoutRunningAnything) {
  FakeSandbox sb([](const SandboxCommand&) -> absl::StatusOr<ProcessRunResult> { return HarnessOutput(""); });
  const SolutionResult r = GradeSolution(StdinProblem({{"1", "1"}, {"2", "2"}}), " \n\t", sb, GradeOptions{});
  EXPECT_EQ(r.verdict, Verdict::kNoCode);
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(r.tests.size(), 2u);
  EXPECT_EQ(r.tests[1].verdict, Verdict::kNoCode);
  EXPECT_TRUE(sb.commands().empty());
}

TEST_F(SandboxedGraderTest, BatchedProgramsGetTheVerdictsTheyGetAlone) {
  const std::string dir = SourceDir() + "/tests/fixtures/eval";
  auto bench = LoadBenchmark(dir + "/lcb_mini.jsonl");
  ASSERT_TRUE(bench.ok()) << bench.status();
  std::vector<Solution> solutions;
  for (const auto& f : ReadFixtureSolutions(dir + "/lcb_mini_solutions.jsonl")) solutions.push_back(f.solution);
  GradeOptions alone = FastOptions();
  alone.max_batch = 1;
  GradeOptions batched = FastOptions();
  batched.max_batch = 64;
  const std::vector<SolutionResult> a = GradeSolutions(*bench, solutions, *sandbox_, alone);
  // GradeSolutions would cut so few programs into batches of 5; one batch
  // of all of them is the hardest case.
  std::vector<const Problem*> problems;
  std::vector<absl::string_view> programs;
  for (const Solution& sol : solutions) {
    problems.push_back(bench->Find(sol.question_id));
    programs.push_back(sol.code);
  }
  const std::vector<std::optional<SolutionResult>> b = GradeBatch(problems, programs, *sandbox_, batched);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(b[i].has_value()) << "solution " << i << " (" << solutions[i].question_id << ") left ungraded";
    EXPECT_EQ(VerdictName(b[i]->verdict), VerdictName(a[i].verdict)) << "solution " << i;
    ASSERT_EQ(b[i]->tests.size(), a[i].tests.size());
    for (size_t t = 0; t < a[i].tests.size(); ++t) {
      EXPECT_EQ(b[i]->tests[t].verdict, a[i].tests[t].verdict) << "solution " << i << " test " << t;
    }
  }
}

// Prints "clean" only when no process but init, the harness and itself is
// alive and no file of an earlier program is left.
constexpr char kCleanCheck[] =
    "import os\n"
    "me = {1, os.getpid(), os.getppid()}\n"
    "alive = []\n"
    "for p in os.listdir('/proc'):\n"
    "    if p.isdigit() and int(p) not in me:\n"
    "        try:\n"
    "            if open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()[0] != 'Z': alive.append(p)\n"
    "        except OSError:\n"
    "            pass\n"
    "left = [f for f in ('/tmp/leak', '/leak', '/dev/shm/leak', '/dev/leak') if os.path.exists(f)]\n"
    "print('clean' if not alive and not left else 'dirty %s %s' % (alive, left))\n";

TEST_F(SandboxedGraderTest, NothingOneProgramOfABatchLeavesReachesTheNext) {
  const Problem p = StdinProblem({{"", "clean\n"}, {"", "clean\n"}});
  // A daemon out of the test's process group, and files in every writable
  // place of the sandbox.
  const std::string leaver =
      "import os, time\n"
      "for f in ('/tmp/leak', '/leak', '/dev/shm/leak', '/dev/leak'):\n"
      "    open(f, 'w').write('x')\n"
      "if os.fork() == 0:\n"
      "    os.setsid()\n"
      "    if os.fork() == 0:\n"
      "        time.sleep(60)\n"
      "    os._exit(0)\n"
      "print('clean')\n";
  const std::vector<std::optional<SolutionResult>> r =
      GradeBatch({&p, &p, &p}, {leaver, kCleanCheck, kCleanCheck}, *sandbox_, FastOptions());
  ASSERT_EQ(r.size(), 3u);
  for (size_t i = 0; i < r.size(); ++i) {
    ASSERT_TRUE(r[i].has_value()) << "item " << i << " left ungraded";
    EXPECT_TRUE(r[i]->passed) << "item " << i << ": " << r[i]->tests[0].detail;
  }
}

TEST_F(SandboxedGraderTest, AProgramThatKillsTheHarnessCostsTheOthersOnlyARunOfTheirOwn) {
  const Problem p = StdinProblem({{"2\n", "4\n"}});
  const std::string good = "print(2 * int(input()))\n";
  const std::string killer = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n";
  const std::vector<std::optional<SolutionResult>> r =
      GradeBatch({&p, &p, &p}, {good, killer, good}, *sandbox_, FastOptions());
  ASSERT_EQ(r.size(), 3u);
  ASSERT_TRUE(r[0].has_value());
  EXPECT_TRUE(r[0]->passed);
  EXPECT_FALSE(r[1].has_value()) << "the killer's batch died; it must be graded alone";
  EXPECT_FALSE(r[2].has_value()) << "an item after the death was reported";
  // Through GradeSolutions (12 programs on 2 slots: batches of 3), every
  // copy ends with the verdict it gets alone.
  Benchmark b;
  b.problems.push_back(p);
  b.index["stdin"] = 0;
  std::vector<Solution> solutions;
  for (int i = 0; i < 4; ++i) {
    for (const std::string& code : {good, killer, good}) solutions.push_back({"stdin", code + "#" + std::to_string(i)});
  }
  const std::vector<SolutionResult> all = GradeSolutions(b, solutions, *sandbox_, FastOptions());
  ASSERT_EQ(all.size(), 12u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_TRUE(all[i].error.empty()) << i << ": " << all[i].error;
    EXPECT_EQ(all[i].passed, i % 3 != 1) << "solution " << i << ": " << VerdictName(all[i].verdict);
  }
  EXPECT_EQ(all[1].verdict, Verdict::kRuntimeError);
}

TEST_F(SandboxedGraderTest, AReplacedDeviceEntryStopsTheBatch) {
  const Problem p = StdinProblem({{"2\n", "4\n"}});
  const std::string replacer =
      "import os\nos.unlink('/dev/stdin')\nos.symlink('/tmp/x', '/dev/stdin')\nprint(2 * int(input()))\n";
  const std::vector<std::optional<SolutionResult>> r =
      GradeBatch({&p, &p}, {replacer, "print(2 * int(input()))\n"}, *sandbox_, FastOptions());
  ASSERT_EQ(r.size(), 2u);
  ASSERT_TRUE(r[0].has_value());
  EXPECT_TRUE(r[0]->passed);
  EXPECT_FALSE(r[1].has_value()) << "the next item ran after /dev/stdin was replaced";
}

TEST(GraderTest, ABatchOutsideAPidNamespaceOfItsOwnIsRefused) {
  // Killing "every other process" outside a sandbox would kill the host's:
  // the harness refuses, and GradeSolutions never batches for such a sandbox.
  UnsafeSandbox unsafe(2);
  const Problem p = StdinProblem({{"2\n", "4\n"}});
  const std::string good = "print(2 * int(input()))\n";
  const auto r = GradeBatch({&p, &p}, {good, good}, unsafe, FastOptions());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_FALSE(r[0].has_value() || r[1].has_value());

  FakeSandbox fake(
      [](const SandboxCommand&) -> absl::StatusOr<ProcessRunResult> {
        return HarnessOutput("{\"test\": 0, \"verdict\": \"pass\"}\n{\"done\": true}\n");
      },
      2);
  Benchmark b;
  b.problems.push_back(p);
  b.index["stdin"] = 0;
  std::vector<Solution> solutions;
  for (int i = 0; i < 12; ++i) solutions.push_back({"stdin", good + "#" + std::to_string(i)});
  GradeSolutions(b, solutions, fake, FastOptions());
  ASSERT_EQ(fake.commands().size(), 12u);
  for (const SandboxCommand& c : fake.commands()) EXPECT_FALSE(nlohmann::json::parse(c.stdin_data).contains("items"));
}

TEST(GraderTest, SandboxFailureAndUnknownIdsAreRecordedNotFatal) {
  FakeSandbox sb([](const SandboxCommand&) -> absl::StatusOr<ProcessRunResult> {
    return absl::ResourceExhaustedError("fork: out of processes");
  });
  Benchmark b;
  b.problems.push_back(StdinProblem({{"1", "1"}}));
  b.index["stdin"] = 0;
  const std::vector<SolutionResult> r = GradeSolutions(b, {{"stdin", "print(1)"}, {"nope", "print(1)"}}, sb, {});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_NE(r[0].error.find("out of processes"), std::string::npos);
  EXPECT_NE(r[1].error.find("\"nope\" is not in the benchmark"), std::string::npos);
  EXPECT_FALSE(r[0].passed || r[1].passed);
}

TEST(GraderTest, TheHarnessGetsTheJobOnStdinAndLimitsScaleWithTheTests) {
  FakeSandbox sb([](const SandboxCommand&) -> absl::StatusOr<ProcessRunResult> {
    return HarnessOutput(
        "{\"test\": 0, \"verdict\": \"pass\"}\n{\"test\": 1, \"verdict\": \"pass\"}\n"
        "{\"done\": true}\n");
  });
  GradeOptions o;
  o.timeout_s = 3;
  const SolutionResult r = GradeSolution(StdinProblem({{"1", "1"}, {"2", "2"}}), "print(input())", sb, o);
  EXPECT_TRUE(r.passed);
  ASSERT_EQ(sb.commands().size(), 1u);
  const SandboxCommand c = sb.commands()[0];
  EXPECT_EQ(c.argv[0], "/usr/bin/python3");
  const nlohmann::json job = nlohmann::json::parse(c.stdin_data);
  EXPECT_EQ(job["mode"], "stdin");
  EXPECT_EQ(job["tests"].size(), 2u);
  EXPECT_GE(c.limits.wall_s, 2 * 3.0);
  EXPECT_EQ(c.limits.address_space_bytes, o.address_space_bytes);
}

TEST(GraderTest, OptionsNameTheBadField) {
  GradeOptions o;
  o.timeout_s = 0;
  EXPECT_NE(o.Validate().message().find("timeout_s"), std::string::npos);
  o = GradeOptions{};
  o.python_path = "python3";
  EXPECT_NE(o.Validate().message().find("python_path"), std::string::npos);
}

}  // namespace
}  // namespace ssd
