// GradeSolutions with GradeMemo: each distinct (problem, program) pair runs in
// the sandbox once, copies get the same result in input order, and failed
// runs are not remembered.
#include "common/eval/grade_memo.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/eval/fake_sandbox.h"
#include "common/eval/grader.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

Benchmark TwoProblems() {
  Benchmark b;
  for (const char* id : {"a", "b"}) {
    Problem p;
    p.question_id = id;
    p.test_type = TestType::kStdin;
    p.tests = {{"1", "1"}};
    b.index[id] = b.problems.size();
    b.problems.push_back(p);
  }
  return b;
}

// Passes a program whose text contains "good"; fails the rest.
FakeSandbox::Script PassesGood() {
  return [](const SandboxCommand& c) -> absl::StatusOr<ProcessRunResult> {
    const std::string code = nlohmann::json::parse(c.stdin_data)["code"];
    ProcessRunResult r;
    r.exit_code = 0;
    r.out = absl::StrContains(code, "good") ? "{\"test\": 0, \"verdict\": \"pass\"}\n{\"done\": true}\n"
                                            : "{\"test\": 0, \"verdict\": \"wrong_answer\"}\n{\"done\": true}\n";
    return r;
  };
}

TEST(GradeMemoTest, CopiesOfAProgramOnAProblemRunOnceAndKeepTheirPlaces) {
  FakeSandbox sb(PassesGood(), 2);
  const Benchmark b = TwoProblems();
  const std::vector<Solution> s = {{"a", "good"}, {"a", "bad"}, {"a", "good"},
                                   {"b", "good"}, {"a", "bad"}, {"b", "good"}};
  const std::vector<SolutionResult> r = GradeSolutions(b, s, sb, GradeOptions{});
  ASSERT_EQ(r.size(), s.size());
  // a/good, a/bad and b/good: the same program on another problem is another run.
  EXPECT_EQ(sb.commands().size(), 3u);
  const bool want[] = {true, false, true, true, false, true};
  for (size_t i = 0; i < s.size(); ++i) {
    EXPECT_EQ(r[i].passed, want[i]) << i;
    EXPECT_EQ(r[i].question_id, s[i].question_id) << i;
  }
}

TEST(GradeMemoTest, AMemoCarriesResultsAcrossCallsAndCountsWhatItSaved) {
  FakeSandbox sb(PassesGood());
  const Benchmark b = TwoProblems();
  GradeMemo memo;
  GradeSolutions(b, {{"a", "good"}, {"a", "good"}}, sb, GradeOptions{}, &memo);
  EXPECT_EQ(memo.reused(), 1);
  const std::vector<SolutionResult> r = GradeSolutions(b, {{"a", "good"}, {"a", "other"}}, sb, GradeOptions{}, &memo);
  EXPECT_EQ(sb.commands().size(), 2u) << "a/good was not run again";
  EXPECT_TRUE(r[0].passed);
  EXPECT_FALSE(r[1].passed);
  EXPECT_EQ(memo.reused(), 2);
  EXPECT_EQ(memo.size(), 2);
}

TEST(GradeMemoTest, SandboxFailuresAreRetriedNotRemembered) {
  int calls = 0;
  FakeSandbox sb([&](const SandboxCommand& c) -> absl::StatusOr<ProcessRunResult> {
    if (++calls == 1) return absl::ResourceExhaustedError("fork: out of processes");
    return PassesGood()(c);
  });
  const Benchmark b = TwoProblems();
  GradeMemo memo;
  std::vector<SolutionResult> r = GradeSolutions(b, {{"a", "good"}, {"a", "good"}}, sb, GradeOptions{}, &memo);
  // Both copies carry the failure of their one run.
  EXPECT_FALSE(r[0].error.empty());
  EXPECT_FALSE(r[1].error.empty());
  EXPECT_EQ(memo.size(), 0);
  r = GradeSolutions(b, {{"a", "good"}}, sb, GradeOptions{}, &memo);
  EXPECT_TRUE(r[0].error.empty()) << r[0].error;
  EXPECT_TRUE(r[0].passed);
  EXPECT_EQ(calls, 2);
}

TEST(GradeMemoTest, UnknownProblemsAreNamedForEveryCopy) {
  FakeSandbox sb(PassesGood());
  const std::vector<SolutionResult> r =
      GradeSolutions(TwoProblems(), {{"zz", "good"}, {"zz", "good"}}, sb, GradeOptions{});
  for (const SolutionResult& x : r) EXPECT_NE(x.error.find("\"zz\" is not in the benchmark"), std::string::npos);
  EXPECT_TRUE(sb.commands().empty());
}

TEST(GradeMemoTest, TheKeySeparatesIdFromCode) { EXPECT_NE(GradeMemo::Key("ab", "c"), GradeMemo::Key("a", "bc")); }

}  // namespace
}  // namespace ssd
