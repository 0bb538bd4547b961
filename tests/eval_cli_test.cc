// `ssd eval-code` end to end: the real binary grades the LiveCodeBench-format
// fixture in the sandbox, reports malformed input by line without stopping,
// and refuses to run untrusted code when bubblewrap cannot run.
#include <fstream>
#include <map>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

std::string FixtureDir() { return SourceDir() + "/tests/fixtures/eval"; }

TEST(EvalCliTest, GradesTheFixtureAndPrintsOneJsonObject) {
  ProcessResult r =
      RunProcess({SsdBinary(), "eval-code", "--benchmark", FixtureDir() + "/lcb_mini.jsonl", "--solutions",
                  FixtureDir() + "/lcb_mini_solutions.jsonl", "--timeout-s", "4", "--memory-mb", "1024", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  // The expected verdicts, in file order.
  std::ifstream in(FixtureDir() + "/lcb_mini_solutions.jsonl");
  std::vector<std::string> expect;
  for (std::string line; std::getline(in, line);) expect.push_back(nlohmann::json::parse(line)["expect"]);
  ASSERT_EQ(j["problems"].size(), expect.size());
  int passes = 0;
  for (size_t i = 0; i < expect.size(); ++i) {
    const nlohmann::json& p = j["problems"][i];
    EXPECT_EQ(p["verdict"], expect[i]) << "solution " << i << ": " << p.dump();
    EXPECT_EQ(p["passed"], expect[i] == "pass");
    EXPECT_TRUE(p.contains("question_id") && p.contains("tests"));
    passes += expect[i] == "pass";
  }
  EXPECT_DOUBLE_EQ(j["pass_rate"].get<double>(), static_cast<double>(passes) / expect.size());
  EXPECT_TRUE(j["pass_at_k"]["overall"]["pass_at_k"].contains("pass@1"));
  EXPECT_EQ(j["sandbox"], "bwrap");
}

TEST(EvalCliTest, PrintsAVerdictPerProblemAndThePassRate) {
  ScopedTempDir tmp("ssd_eval_cli");
  const std::string dir = tmp.path();
  std::ofstream(dir + "/s.jsonl") << R"j({"question_id": "fx_sum", "code": "print(6)"})j"
                                  << "\n"
                                  << R"j({"question_id": "fx_echo", "output": "```python\nprint(input())\n```"})j"
                                  << "\n";
  ProcessResult r = RunProcess({SsdBinary(), "eval-code", "--benchmark", FixtureDir() + "/lcb_mini.jsonl",
                                "--solutions", dir + "/s.jsonl", "--timeout-s", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("fx_sum"), std::string::npos);
  EXPECT_NE(r.out.find("wrong_answer"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pass rate: 1/2 = 50.0%"), std::string::npos) << r.out;
}

TEST(EvalCliTest, BadLinesAreReportedByLineNumberAndTheRunGoesOn) {
  ScopedTempDir tmp("ssd_eval_cli");
  const std::string dir = tmp.path();
  std::ofstream(dir + "/bench.jsonl")
      << "{not json\n"
      << R"j({"question_id": "ok", "question_content": "echo", "public_test_cases": "[{\"input\": \"x\\n\", \"output\": \"x\\n\", \"testtype\": \"stdin\"}]"})j"
      << "\n";
  std::ofstream(dir + "/s.jsonl") << R"j({"question_id": "ok", "code": "print(input())"})j"
                                  << "\n"
                                  << "[]\n"
                                  << R"j({"question_id": "ok", "code": ""})j"
                                  << "\n"
                                  << R"j({"question_id": "missing", "code": "print(1)"})j"
                                  << "\n";
  ProcessResult r = RunProcess(
      {SsdBinary(), "eval-code", "--benchmark", dir + "/bench.jsonl", "--solutions", dir + "/s.jsonl", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["errors"].size(), 2u);
  EXPECT_NE(j["errors"][0].get<std::string>().find("bench.jsonl:1: "), std::string::npos) << j["errors"];
  EXPECT_NE(j["errors"][1].get<std::string>().find("s.jsonl:2: "), std::string::npos) << j["errors"];
  ASSERT_EQ(j["problems"].size(), 3u);
  EXPECT_EQ(j["problems"][0]["verdict"], "pass");
  EXPECT_EQ(j["problems"][1]["verdict"], "no_code");
  EXPECT_NE(j["problems"][2]["error"].get<std::string>().find("not in the benchmark"), std::string::npos);
  EXPECT_DOUBLE_EQ(j["pass_rate"].get<double>(), 0.5);  // the unknown id is not graded
}

TEST(EvalCliTest, RefusesWithoutBubblewrapUnlessUnsafeIsExplicit) {
  const std::vector<std::string> base = {SsdBinary(),   "eval-code",
                                         "--benchmark", FixtureDir() + "/lcb_mini.jsonl",
                                         "--solutions", FixtureDir() + "/lcb_mini_solutions.jsonl",
                                         "--bwrap",     "/nonexistent/bwrap"};
  ProcessResult refused = RunProcess(base);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("--unsafe-no-sandbox"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.out, "");

  ScopedTempDir tmp("ssd_eval_cli");
  const std::string dir = tmp.path();
  std::ofstream(dir + "/s.jsonl")
      << R"j({"question_id": "fx_sum", "code": "print(sum(map(int, open(0).read().split()[1:])))"})j"
      << "\n";
  std::vector<std::string> unsafe = base;
  unsafe[5] = dir + "/s.jsonl";
  unsafe.push_back("--unsafe-no-sandbox");
  unsafe.push_back("--json");
  ProcessResult ran = RunProcess(unsafe);
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  const nlohmann::json j = nlohmann::json::parse(ran.out);
  EXPECT_EQ(j["sandbox"], "unsafe-no-sandbox");
  EXPECT_EQ(j["problems"][0]["verdict"], "pass");
}

TEST(EvalCliTest, MissingFlagsAndBadValuesAreUsageErrors) {
  EXPECT_NE(RunProcess({SsdBinary(), "eval-code", "--benchmark", "x"}).exit_code, 0);
  ProcessResult r = RunProcess({SsdBinary(), "eval-code", "--benchmark", FixtureDir() + "/lcb_mini.jsonl",
                                "--solutions", FixtureDir() + "/lcb_mini_solutions.jsonl", "--timeout-s", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("timeout_s"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ssd
