// deploy/make-base.sh, the base-model recipe, at a reduced size: it runs
// every step, the same flags give a bit-identical model, another seed gives
// another one, and bad flags get a clear message before any work.
#include <fstream>

#include "common/util/file_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

std::string Slurp(const std::string& path) { return ReadFileToString(path).value_or(""); }

class MakeBaseTest : public testing::Test {
 protected:
  void SetUp() override {
    // The first 40 problems of the tiny-code train split and their solutions.
    std::ifstream p(SourceDir() + "/deploy/tiny-code/train.jsonl"),
        s(SourceDir() + "/deploy/tiny-code/train_solutions.jsonl");
    std::ofstream po(dir_ + "/p.jsonl"), so(dir_ + "/s.jsonl");
    std::string line;
    for (int i = 0; i < 40 && std::getline(p, line); ++i) po << line << "\n";
    for (int i = 0; i < 40 && std::getline(s, line); ++i) so << line << "\n";
  }
  ProcessResult Run(const std::string& out, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {SourceDir() + "/deploy/make-base.sh",
                                     "--problems",
                                     dir_ + "/p.jsonl",
                                     "--solutions",
                                     dir_ + "/s.jsonl",
                                     "--out",
                                     out,
                                     "--vocab",
                                     "600",
                                     "--hidden",
                                     "32",
                                     "--layers",
                                     "1",
                                     "--heads",
                                     "2",
                                     "--kv-heads",
                                     "1",
                                     "--intermediate",
                                     "64",
                                     "--epochs",
                                     "1",
                                     "--threads",
                                     "1",
                                     "--batch-tokens",
                                     "2048",
                                     "--micro-batch-tokens",
                                     "1024",
                                     "--max-seq-len",
                                     "1024",
                                     "--tail-epochs",
                                     "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunProcess(argv, 600);
  }

  ScopedTempDir tmp_{"ssd_make_base"};
  std::string dir_ = tmp_.path();
};

TEST_F(MakeBaseTest, TheSameFlagsRebuildABitIdenticalModelAndAnotherSeedDoesNot) {
  ProcessResult a = Run(dir_ + "/a");
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  for (const char* step : {"1/6", "2/6", "3/6", "4/6", "5/6", "6/6"}) {
    EXPECT_NE(a.out.find(step), std::string::npos) << step;
  }
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_FALSE(Slurp(dir_ + "/a/model/" + f).empty()) << f;
  }
  // No tail noise by default: step 5 trains on the clean conversations.
  EXPECT_NE(a.out.find("3/6 no tail noise"), std::string::npos) << a.out;
  // No step speaks of noise that was not asked for.
  EXPECT_EQ(a.err.find("replaced by tail noise"), std::string::npos) << a.err;
  EXPECT_EQ(Slurp(dir_ + "/a/work/train.jsonl"), Slurp(dir_ + "/a/work/clean.jsonl"));

  ProcessResult b = Run(dir_ + "/b");
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  EXPECT_EQ(Slurp(dir_ + "/a/model/model.safetensors"), Slurp(dir_ + "/b/model/model.safetensors"));
  EXPECT_EQ(Slurp(dir_ + "/a/model/tokenizer.json"), Slurp(dir_ + "/b/model/tokenizer.json"));

  ProcessResult c = Run(dir_ + "/c", {"--seed", "2"});
  ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
  EXPECT_NE(Slurp(dir_ + "/a/model/model.safetensors"), Slurp(dir_ + "/c/model/model.safetensors"));

  // --tail-noise puts its noise into step 5's data, and so into the model.
  ProcessResult n = Run(dir_ + "/n", {"--tail-noise", "0.03"});
  ASSERT_EQ(n.exit_code, 0) << n.out << n.err;
  EXPECT_NE(n.err.find("replaced by tail noise"), std::string::npos) << n.err;
  EXPECT_NE(Slurp(dir_ + "/n/work/train.jsonl"), Slurp(dir_ + "/n/work/clean.jsonl"));
  EXPECT_EQ(Slurp(dir_ + "/n/work/clean.jsonl"), Slurp(dir_ + "/a/work/clean.jsonl"));
  EXPECT_NE(Slurp(dir_ + "/a/model/model.safetensors"), Slurp(dir_ + "/n/model/model.safetensors"));

  // Step 6 (label smoothing) is what the model ends with; --label-smoothing 0
  // skips it and gives step 5's model, which is the same with or without it.
  EXPECT_EQ(Slurp(dir_ + "/a/model/model.safetensors"), Slurp(dir_ + "/a/work/tail/model/model.safetensors"));
  EXPECT_NE(Slurp(dir_ + "/a/model/model.safetensors"), Slurp(dir_ + "/a/work/train/model/model.safetensors"));
  ProcessResult d = Run(dir_ + "/d", {"--label-smoothing", "0"});
  ASSERT_EQ(d.exit_code, 0) << d.out << d.err;
  EXPECT_EQ(d.out.find("6/6"), std::string::npos) << d.out;
  EXPECT_EQ(Slurp(dir_ + "/d/model/model.safetensors"), Slurp(dir_ + "/a/work/train/model/model.safetensors"));
}

TEST_F(MakeBaseTest, ExtraProblemsTrainAfterTheFirstSetAsIfOneFileHeldBoth) {
  // The 40 problems split 25 + 15, the first parts without a final newline:
  // --extra-problems gives the model that one 40-problem file gives.
  std::vector<std::string> problems, solutions;
  {
    std::ifstream p(dir_ + "/p.jsonl"), s(dir_ + "/s.jsonl");
    for (std::string line; std::getline(p, line);) problems.push_back(line);
    for (std::string line; std::getline(s, line);) solutions.push_back(line);
  }
  ASSERT_EQ(problems.size(), 40u);
  ASSERT_EQ(solutions.size(), 40u);
  auto write = [](const std::string& path, const std::vector<std::string>& lines, size_t from, size_t to,
                  bool final_newline) {
    std::ofstream out(path);
    for (size_t i = from; i < to; ++i) out << lines[i] << (i + 1 < to || final_newline ? "\n" : "");
  };
  write(dir_ + "/p1.jsonl", problems, 0, 25, false);
  write(dir_ + "/s1.jsonl", solutions, 0, 25, false);
  write(dir_ + "/p2.jsonl", problems, 25, 40, true);
  write(dir_ + "/s2.jsonl", solutions, 25, 40, true);

  ProcessResult one = Run(dir_ + "/one", {"--label-smoothing", "0"});
  ASSERT_EQ(one.exit_code, 0) << one.out << one.err;
  ProcessResult two =
      Run(dir_ + "/two", {"--label-smoothing", "0", "--problems", dir_ + "/p1.jsonl", "--solutions", dir_ + "/s1.jsonl",
                          "--extra-problems", dir_ + "/p2.jsonl", "--extra-solutions", dir_ + "/s2.jsonl"});
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err;
  EXPECT_NE(two.out.find("training on p1.jsonl and p2.jsonl"), std::string::npos) << two.out;
  EXPECT_NE(two.err.find("40 conversations"), std::string::npos) << two.err;
  EXPECT_EQ(Slurp(dir_ + "/one/work/clean.jsonl"), Slurp(dir_ + "/two/work/clean.jsonl"));
  EXPECT_EQ(Slurp(dir_ + "/one/model/model.safetensors"), Slurp(dir_ + "/two/model/model.safetensors"));
}

TEST_F(MakeBaseTest, BadFlagsAreNamedBeforeAnyWork) {
  ProcessResult r = Run(dir_ + "/x", {"--problems", dir_ + "/missing.jsonl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--problems " + dir_ + "/missing.jsonl: cannot read it"), std::string::npos) << r.err;
  r = Run(dir_ + "/x", {"--extra-problems", dir_ + "/p.jsonl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--extra-problems and --extra-solutions go together"), std::string::npos) << r.err;
  r = Run(dir_ + "/x", {"--extra-problems", dir_ + "/p.jsonl", "--extra-solutions", dir_ + "/none.jsonl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--extra-solutions " + dir_ + "/none.jsonl: cannot read it"), std::string::npos) << r.err;
  r = Run(dir_ + "/x", {"--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown option: --bogus"), std::string::npos) << r.err;
  r = RunProcess({SourceDir() + "/deploy/make-base.sh"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--out is required"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ssd
