// `ssd eval --model`: generation + sandboxed grading + pass@k per
// temperature. A random tiny model solves nothing, so the test pins the
// glue instead: what `ssd eval` grades is exactly what `ssd sample` generates
// for the same problems and settings, and grading those outputs with `ssd
// eval-code` gives the same verdicts.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"
#include "tests/testing/tiny_model.h"

namespace ssd {
namespace {

class EvalModelCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(MakeTinyModel(dir_ + "/model"), "");
    bench_ = SourceDir() + "/tests/fixtures/eval/lcb_mini.jsonl";
  }
  ScopedTempDir tmp_{"ssd_eval_model"};
  std::string dir_ = tmp_.path();
  std::string bench_;
};

TEST_F(EvalModelCliTest, GradesExactlyWhatSampleGeneratesAndNamesTheBestTemperature) {
  ProcessResult ev =
      RunProcess({SsdBinary(), "eval", "--model", dir_ + "/model", "--benchmark", bench_, "--n", "2", "--temperatures",
                  "0.5,1.0", "--max-tokens", "24", "--seed", "3", "--threads", "1", "--json"});
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  const nlohmann::json report = nlohmann::json::parse(ev.out);
  ASSERT_EQ(report["temperatures"].size(), 2u);
  ASSERT_TRUE(report.contains("best_temperature")) << ev.out.substr(0, 400);
  const double best = report["best_temperature"]["temperature"];
  EXPECT_TRUE(best == 0.5 || best == 1.0);
  EXPECT_EQ(report["best_temperature"]["tune_problems"].get<int>() +
                report["best_temperature"]["held_out_problems"].get<int>(),
            5);
  const nlohmann::json& t05 = report["temperatures"][0];
  EXPECT_EQ(t05["temperature"], 0.5);
  ASSERT_EQ(t05["samples"].size(), 10u);  // 5 problems x 2
  EXPECT_TRUE(t05["pass_at_k"].contains("overall")) << t05["pass_at_k"].dump();

  // The same problems through `ssd sample` (LiveCodeBench lines take the same
  // SSD prompt and chat template) with the same settings: eval's defaults
  // are the ssd-eval preset, which `ssd sample` takes by name.
  const std::string out = dir_ + "/samples.jsonl";
  ProcessResult sm = RunProcess(
      {SsdBinary(), "sample",        "--model", dir_ + "/model", "--prompts", bench_,   "--n", "2",         "--preset",
       "ssd-eval",  "--temperature", "0.5",     "--max-tokens",  "24",        "--seed", "3",   "--threads", "1",
       "--quiet",   "--out",         out});
  ASSERT_EQ(sm.exit_code, 0) << sm.err;
  std::map<std::pair<std::string, int>, std::string> sampled;
  std::ifstream in(out);
  std::string line;
  std::ofstream sols(dir_ + "/solutions.jsonl");
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    sampled[{j["prompt_id"], j["sample_index"]}] = j["text"];
  }
  // eval's samples are in benchmark order, then sample order.
  std::vector<std::string> ids;
  for (const auto& s : t05["samples"]) ids.push_back(s["question_id"]);
  ASSERT_EQ(sampled.size(), 10u);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int index = static_cast<int>(i % 2);
    const auto key = std::make_pair(ids[i], index);
    ASSERT_TRUE(sampled.count(key)) << ids[i];
    EXPECT_EQ(t05["samples"][i]["output"], sampled[key]) << ids[i] << "/" << index;
    sols << nlohmann::json{{"question_id", ids[i]}, {"output", sampled[key]}}.dump() << "\n";
  }
  sols.close();

  ProcessResult ec =
      RunProcess({SsdBinary(), "eval-code", "--benchmark", bench_, "--solutions", dir_ + "/solutions.jsonl", "--json"});
  ASSERT_EQ(ec.exit_code, 0) << ec.err;
  const nlohmann::json graded = nlohmann::json::parse(ec.out);
  ASSERT_EQ(graded["problems"].size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(graded["problems"][i]["verdict"], t05["samples"][i]["verdict"]) << i;
    EXPECT_EQ(graded["problems"][i]["passed"], t05["samples"][i]["passed"]) << i;
  }
}

// Greedy decoding gives n identical answers: one is generated and graded per
// problem and counted n times, with the same report as n real copies.
TEST_F(EvalModelCliTest, GreedyGeneratesAndGradesOneAnswerPerProblemAndCountsItNTimes) {
  auto eval = [&](const std::string& n) {
    return RunProcess({SsdBinary(), "eval", "--model", dir_ + "/model", "--benchmark", bench_, "--n", n,
                       "--temperature", "0", "--max-tokens", "16", "--threads", "1", "--json"});
  };
  ProcessResult one = eval("1"), three = eval("3");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(three.exit_code, 0) << three.err;
  EXPECT_NE(three.err.find("temperature 0 is greedy: generating and grading 1 answer per problem for 5 problems, "
                           "each counted 3 times"),
            std::string::npos)
      << three.err;
  const nlohmann::json a = nlohmann::json::parse(one.out)["temperatures"][0];
  const nlohmann::json b = nlohmann::json::parse(three.out)["temperatures"][0];
  EXPECT_EQ(b["generated_answers"], 5);
  EXPECT_EQ(b["graded_answers"], 5);
  EXPECT_EQ(b["generated_tokens"], a["generated_tokens"]);
  ASSERT_EQ(a["samples"].size(), 5u);
  ASSERT_EQ(b["samples"].size(), 15u);
  for (size_t i = 0; i < 15; ++i) EXPECT_EQ(b["samples"][i], a["samples"][i / 3]) << i;
  EXPECT_EQ(b["pass_at_k"]["overall"]["pass_at_k"]["pass@1"], a["pass_at_k"]["overall"]["pass_at_k"]["pass@1"]);
  EXPECT_EQ(b["pass_at_k"]["overall"]["min_samples"], 3);
  // Sampled decoding still generates every answer.
  ProcessResult sampled = RunProcess({SsdBinary(), "eval", "--model", dir_ + "/model", "--benchmark", bench_, "--n",
                                      "3", "--max-tokens", "16", "--threads", "1", "--json"});
  ASSERT_EQ(sampled.exit_code, 0) << sampled.err;
  const nlohmann::json c = nlohmann::json::parse(sampled.out)["temperatures"][0];
  EXPECT_EQ(c["temperature"], 1.1);  // the ssd-eval preset
  EXPECT_EQ(c["generated_answers"], 15);
  EXPECT_EQ(c["graded_answers"], 15);
}

TEST_F(EvalModelCliTest, TokenizerFlagAndTheMessageWithoutOneAndTheContextCap) {
  const std::string bare = dir_ + "/bare";
  ProcessResult init = RunProcess({SsdBinary(), "model", "init", "--vocab", "320", "--hidden", "64", "--layers", "2",
                                   "--max-position-embeddings", "40", "--out", bare});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  ProcessResult r = RunProcess(
      {SsdBinary(), "eval", "--model", bare, "--benchmark", bench_, "--n", "1", "--max-tokens", "8", "--threads", "1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(bare + " has no tokenizer.json: pass --tokenizer DIR or copy it in with `ssd model init "
                              "--tokenizer`"),
            std::string::npos)
      << r.err;
  // The benchmark's prompts are longer than 40 tokens: each is reported
  // and counted as a failure; what matters here is the cap's warning.
  r = RunProcess({SsdBinary(), "eval", "--model", bare, "--tokenizer", dir_ + "/model", "--benchmark", bench_, "--n",
                  "1", "--max-tokens", "5000", "--threads", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--max-tokens 5000 is beyond the model's context: max_position_embeddings is 40"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["temperatures"][0]["samples"].size(), 5u);
}

TEST_F(EvalModelCliTest, BadSamplingParametersAreRefusedByName) {
  for (auto [flag, value, name] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--temperatures", "0.5,-1", "temperature"}, {"--top-p", "0", "top_p"}, {"--n", "0", "n ="}}) {
    ProcessResult r = RunProcess({SsdBinary(), "eval", "--model", dir_ + "/model", "--benchmark", bench_, flag, value});
    EXPECT_EQ(r.exit_code, 2) << flag << "\n" << r.err;
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace ssd
