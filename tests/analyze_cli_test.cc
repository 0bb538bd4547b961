// `ssd analyze`: the mechanism report's numbers against the independent
// PyTorch reference (tests/reference/hf_reference.py token-stats) on the
// very solutions the command sampled, the lock/fork split recomputed from
// the per-position file, the page rendered by headless Chromium, and the
// refusals of bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"
#include "tests/testing/tiny_model.h"

namespace ssd {
namespace {

constexpr char kPython[] = "/usr/bin/python3";

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class AnalyzeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(MakeTinyModel(dir_ + "/base"), "");
    // The "tuned" model: same shape and tokenizer, other weights.
    ProcessResult r =
        RunProcess({SsdBinary(), "model", "init", "--vocab", "320", "--hidden", "64", "--layers", "2", "--init-std",
                    "0.2", "--max-position-embeddings", "8192", "--seed", "9", "--out", dir_ + "/tuned"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
      ASSERT_EQ(RunProcess({"cp", dir_ + "/base/" + f, dir_ + "/tuned/"}).exit_code, 0);
    }
    bench_ = SourceDir() + "/tests/fixtures/eval/lcb_mini.jsonl";
  }
  std::vector<std::string> Analyze(std::vector<std::string> extra) {
    std::vector<std::string> argv = {
        SsdBinary(), "analyze",      "--base", dir_ + "/base", "--tuned", dir_ + "/tuned", "--benchmark",
        bench_,      "--max-tokens", "12",     "--threads",    "1",       "--tail-top-k",  "5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  ScopedTempDir tmp_{"ssd_analyze"};
  std::string dir_ = tmp_.path();
  std::string bench_;
};

TEST_F(AnalyzeCliTest, EveryPositionMatchesTheReferenceAndTheGroupsAddUp) {
  const std::string html = dir_ + "/out/analysis.html";
  ProcessResult r = RunProcess(Analyze({"--temperature", "1.0", "--top-k", "0", "--top-p", "1", "--seed", "4",
                                        "--lock-share", "0.6", "--out", html, "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary, nlohmann::json::parse(Slurp(dir_ + "/out/analysis.json")));
  EXPECT_EQ(summary["solutions"], 5);  // lcb_mini's five problems, one sample each
  EXPECT_EQ(summary["sampling"]["temperature"], 1.0);

  std::istringstream lines(Slurp(dir_ + "/out/analysis.positions.jsonl"));
  std::string line;
  int64_t positions = 0, locks = 0, checked = 0;
  while (std::getline(lines, line)) {
    const nlohmann::json s = nlohmann::json::parse(line);
    std::vector<int64_t> ids = s["prompt_ids"].get<std::vector<int64_t>>();
    const size_t start = ids.size();
    for (int64_t id : s["completion_ids"]) ids.push_back(id);
    ASSERT_GT(ids.size(), start) << s["question_id"];
    for (const char* model : {"base", "tuned"}) {
      ProcessResult ref = RunProcess({kPython, SourceDir() + "/tests/reference/hf_reference.py", "token-stats",
                                      "--model", dir_ + "/" + model, "--ids", absl::StrJoin(ids, ","), "--start",
                                      std::to_string(start), "--top-k", "5"});
      ASSERT_EQ(ref.exit_code, 0) << ref.err;
      const nlohmann::json want = nlohmann::json::parse(ref.out);
      const nlohmann::json& got = s[model];
      ASSERT_EQ(want.size(), got["entropy"].size());
      for (size_t i = 0; i < want.size(); ++i) {
        const std::string where = s["question_id"].get<std::string>() + " " + model + " position " + std::to_string(i);
        for (const char* f : {"entropy", "tail_mass", "head_entropy", "top1_share", "token_prob"}) {
          EXPECT_NEAR(got[f][i].get<double>(), want[i][f].get<double>(), 1e-4) << where << " " << f;
        }
        EXPECT_EQ(got["argmax"][i], want[i]["argmax"]) << where;
        ++checked;
      }
    }
    for (double share : s["base"]["top1_share"]) {
      ++positions;
      locks += share >= 0.6;
    }
  }
  EXPECT_EQ(checked, 2 * positions);
  EXPECT_EQ(summary["all"]["positions"], positions);
  EXPECT_EQ(summary["lock"]["positions"], locks);
  EXPECT_EQ(summary["fork"]["positions"], positions - locks);
  EXPECT_GT(locks, 0) << "the fixture should have both kinds of position";
  EXPECT_LT(locks, positions);

  ProcessResult dom =
      RunProcess({"chromium-headless-shell", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + html}, 120);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  size_t svgs = 0;
  for (size_t at = dom.out.find("<svg "); at != std::string::npos; at = dom.out.find("<svg ", at + 1)) ++svgs;
  EXPECT_EQ(svgs, 4u) << dom.out.substr(0, 2000);
  EXPECT_NE(dom.out.find("How SSD reshaped the next-token distributions"), std::string::npos);
}

TEST_F(AnalyzeCliTest, TheTextSummaryNamesTheSettingsAndThePage) {
  ProcessResult r = RunProcess(Analyze({"--out", dir_ + "/a.html", "--lock-share", "0.5"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sampled from the base at T 1.5, top-k 20, top-p 0.8"), std::string::npos)
      << "the default is SSD's own data setting: " << r.out;
  EXPECT_NE(r.out.find("At locks the tail mass went from"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("report: " + dir_ + "/a.html"), std::string::npos) << r.out;
}

TEST_F(AnalyzeCliTest, BadInputIsRefusedByNameBeforeAnyWork) {
  ProcessResult r = RunProcess(Analyze({"--out", dir_ + "/a.txt"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;

  r = RunProcess(Analyze({"--out", dir_ + "/a.html", "--lock-share", "0"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("lock_share"), std::string::npos) << r.err;

  r = RunProcess({SsdBinary(), "analyze", "--base", dir_ + "/base", "--tuned", dir_ + "/missing", "--benchmark", bench_,
                  "--out", dir_ + "/a.html"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--tuned"), std::string::npos) << r.err;

  // Another vocabulary: the two models cannot be compared token by token.
  ASSERT_EQ(MakeTinyModel(dir_ + "/other", 300), "");
  r = RunProcess({SsdBinary(), "analyze", "--base", dir_ + "/base", "--tuned", dir_ + "/other", "--benchmark", bench_,
                  "--out", dir_ + "/a.html", "--max-tokens", "4"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("vocab_size"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tokenizer"), std::string::npos) << r.err;

  // An output under a regular file cannot be written, even by root.
  std::ofstream(dir_ + "/plain") << "x";
  r = RunProcess(Analyze({"--out", dir_ + "/plain/a.html"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(dir_ + "/plain"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("sampling"), std::string::npos) << "it should fail before sampling: " << r.err;
}

}  // namespace
}  // namespace ssd
