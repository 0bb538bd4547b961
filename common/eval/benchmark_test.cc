// Loading benchmarks: LiveCodeBench's release format with compressed private
// tests, the v6 date window, HumanEval, bad lines reported by line number;
// and prompting and code extraction.
#include "common/eval/benchmark.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "common/eval/prompting.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

std::string Fixture() { return SourceDir() + "/tests/fixtures/eval/lcb_mini.jsonl"; }

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "/" + std::to_string(getpid()) + "_" + name;
  std::ofstream(path) << text;
  return path;
}

nlohmann::json GoodRecord(const std::string& id) {
  nlohmann::json tests = nlohmann::json::array({{{"input", "1\n"}, {"output", "1\n"}, {"testtype", "stdin"}}});
  return {{"question_id", id},
          {"question_title", "t"},
          {"question_content", "c"},
          {"starter_code", ""},
          {"difficulty", "easy"},
          {"platform", "atcoder"},
          {"contest_date", "2025-03-01T00:00:00"},
          {"public_test_cases", tests.dump()},
          {"private_test_cases", "[]"},
          {"metadata", "{}"}};
}

TEST(BenchmarkTest, LoadsLiveCodeBenchReleaseFormatWithCompressedPrivateTests) {
  auto b = LoadBenchmark(Fixture());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->errors.empty());
  ASSERT_EQ(b->problems.size(), 5u);
  const Problem* sum = b->Find("fx_sum");  // pickle protocol 2
  ASSERT_NE(sum, nullptr);
  EXPECT_EQ(sum->test_type, TestType::kStdin);
  EXPECT_EQ(sum->num_public_tests, 2);
  EXPECT_EQ(sum->tests.size(), 5u);
  EXPECT_EQ(sum->tests[3].output, "1000000000000\n");
  EXPECT_EQ(sum->difficulty, "easy");
  const Problem* two = b->Find("fx_two_sum");  // protocol 4
  ASSERT_NE(two, nullptr);
  EXPECT_EQ(two->test_type, TestType::kFunctional);
  EXPECT_EQ(two->func_name, "twoSum");
  EXPECT_EQ(two->tests.size(), 4u);
  EXPECT_EQ(two->tests[2].input, "[3, 3]\n6");
  EXPECT_EQ(b->Find("fx_mean")->tests.size(), 4u);     // protocol 3
  EXPECT_EQ(b->Find("fx_min_max")->tests.size(), 3u);  // protocol 5
  EXPECT_EQ(b->Find("fx_echo")->tests.size(), 2u);     // plain JSON
}

TEST(BenchmarkTest, FiltersByTheV6DateWindow) {
  BenchmarkOptions o;
  o.dates = LiveCodeBenchV6Window();
  EXPECT_EQ(o.dates.start_date, "2025-02-01");
  EXPECT_EQ(o.dates.end_date, "2025-05-31");
  auto b = LoadBenchmark(Fixture(), o);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->problems.size(), 4u);  // fx_echo is from December 2024
  EXPECT_EQ(b->filtered_by_date, 1);
  EXPECT_EQ(b->Find("fx_echo"), nullptr);
  EXPECT_NE(b->Find("fx_min_max"), nullptr);  // May 31st: the end is inclusive
}

TEST(BenchmarkTest, DateFilterNamesTheBadField) {
  EXPECT_NE(DateFilter({"2025-2-1", ""}).Validate().message().find("start_date"), std::string::npos);
  EXPECT_NE(DateFilter({"", "May"}).Validate().message().find("end_date"), std::string::npos);
  EXPECT_FALSE(DateFilter({"2025-06-01", "2025-05-01"}).Validate().ok());
}

TEST(BenchmarkTest, ReportsBadLinesWithTheirLineNumbersAndKeepsGoing) {
  nlohmann::json undecodable = GoodRecord("undecodable");
  undecodable["private_test_cases"] = "eJzLSM3JyVcozy/KSQEAGgQEXQ==";  // base64, but not of a zlib'd pickle
  nlohmann::json unknown_type = GoodRecord("unknown_type");
  unknown_type["public_test_cases"] = R"([{"input": "1", "output": "1", "testtype": "interactive"}])";
  nlohmann::json no_func = GoodRecord("no_func");
  no_func["public_test_cases"] = R"([{"input": "1", "output": "1", "testtype": "functional"}])";
  nlohmann::json bad_args = GoodRecord("bad_args");
  bad_args["public_test_cases"] = R"([{"input": "[1,\nnot json", "output": "1", "testtype": "functional"}])";
  bad_args["metadata"] = R"({"func_name": "f"})";
  nlohmann::json no_tests = GoodRecord("no_tests");
  no_tests["public_test_cases"] = "[]";
  const std::string text = GoodRecord("first").dump() + "\n" +   // line 1
                           "{\"question_id\": \"broken\", \n" +  // line 2
                           undecodable.dump() + "\n" +           // 3
                           unknown_type.dump() + "\n" +          // 4
                           "\n" +                                // 5: blank, skipped
                           no_func.dump() + "\n" +               // 6
                           bad_args.dump() + "\n" +              // 7
                           no_tests.dump() + "\n" +              // 8
                           GoodRecord("first").dump() + "\n" +   // 9: duplicate
                           "[1, 2]\n" +                          // 10
                           GoodRecord("last").dump() + "\n";     // 11
  const std::string path = WriteTemp("bad.jsonl", text);
  auto b = LoadBenchmark(path);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->problems.size(), 2u);
  EXPECT_EQ(b->problems[1].question_id, "last");
  const std::pair<int, std::string> expected[] = {
      {2, "not valid JSON"},
      {3, "private_test_cases: zlib"},
      {4, "unknown testtype \"interactive\""},
      {6, "func_name"},
      {7, "input line 1"},
      {8, "no test cases"},
      {9, "duplicate"},
      {10, "JSON object"},
  };
  ASSERT_EQ(b->errors.size(), std::size(expected));
  for (size_t i = 0; i < std::size(expected); ++i) {
    const std::string prefix = path + ":" + std::to_string(expected[i].first) + ": ";
    EXPECT_EQ(b->errors[i].rfind(prefix, 0), 0u) << b->errors[i];
    EXPECT_NE(b->errors[i].find(expected[i].second), std::string::npos) << b->errors[i];
  }
}

TEST(BenchmarkTest, AMissingFileIsAnErrorNamingIt) {
  auto b = LoadBenchmark("/nonexistent/bench.jsonl");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("/nonexistent/bench.jsonl"), std::string::npos);
}

TEST(BenchmarkTest, LoadsHumanEvalGzip) {
  const std::string path = SharedDataFile("HumanEval.jsonl.gz");
  if (access(path.c_str(), R_OK) != 0) SSD_SKIP_OR_FAIL(path + " is absent (set SSD_SHARED_DATA to its folder)");
  auto b = LoadBenchmark(path);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->errors.empty());
  ASSERT_EQ(b->problems.size(), 164u);
  const Problem& p = b->problems[0];
  EXPECT_EQ(p.question_id, "HumanEval/0");
  EXPECT_EQ(p.test_type, TestType::kHumanEval);
  EXPECT_EQ(p.entry_point, "has_close_elements");
  EXPECT_NE(p.humaneval_test.find("def check(candidate)"), std::string::npos);
  EXPECT_EQ(p.tests.size(), 1u);
}

TEST(PromptingTest, ExtractsTheLastFencedBlockAsLiveCodeBenchDoes) {
  EXPECT_EQ(ExtractCode("Here:\n```python\nprint(1)\n```\nand better:\n```python\nprint(2)\nprint(3)\n```\nDone."),
            "print(2)\nprint(3)");
  EXPECT_EQ(ExtractCode("```\nx = 1\n```"), "x = 1");
  EXPECT_EQ(ExtractCode("no code at all"), "");
  EXPECT_EQ(ExtractCode("```python\nunterminated"), "");
  // Reasoning is dropped: a block quoted while thinking does not count.
  EXPECT_EQ(ExtractCode("<think>\n```python\nwrong()\n```\n</think>\nNo code."), "");
  EXPECT_EQ(ExtractCode("<think>\n```\nwrong()\n```\n</think>\n```python\nright()\n```"), "right()");
}

TEST(PromptingTest, UsesTheStdinOrStarterCodeTemplate) {
  Problem stdin_problem;
  stdin_problem.content = "Add two numbers.";
  auto a = FormatProblemPrompt(DefaultSsdPrompts(), stdin_problem);
  ASSERT_TRUE(a.ok());
  EXPECT_NE(a->find("Question: Add two numbers."), std::string::npos);
  EXPECT_NE(a->find("Read the inputs from stdin"), std::string::npos);
  Problem func = stdin_problem;
  func.starter_code = "class Solution:\n    def add(self, a, b):\n";
  auto b = FormatProblemPrompt(DefaultSsdPrompts(), func);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(b->find("```python\nclass Solution:"), std::string::npos);
  EXPECT_EQ(b->find("stdin"), std::string::npos);
}

}  // namespace
}  // namespace ssd
