// The built-in tiny-code benchmark (deploy/tiny-code): the committed files are
// what the seeded generator makes, every reference solution passes its tests
// in the real sandbox, the tests tell a wrong program from a right one, the
// eval split shares no problem with the train split, and `ssd
// sft-references` turns it into training conversations; an extra training
// split leaves both splits as they are.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

const char kPython[] = "/usr/bin/python3";

std::string Dir() { return SourceDir() + "/deploy/tiny-code"; }
std::string Generator() { return Dir() + "/make_tiny_code.py"; }

std::vector<nlohmann::json> ReadJsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

void WriteJsonl(const std::string& path, const std::vector<nlohmann::json>& rows) {
  std::ofstream out(path);
  for (const nlohmann::json& r : rows) out << r.dump() << "\n";
}

nlohmann::json Grade(const std::string& benchmark, const std::string& solutions) {
  ProcessResult r = RunProcess(
      {SsdBinary(), "eval-code", "--benchmark", benchmark, "--solutions", solutions, "--timeout-s", "6", "--json"},
      900);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

TEST(TinyCodeTest, TheCommittedFilesAreWhatTheSeededGeneratorMakes) {
  ProcessResult r = RunProcess({kPython, Generator(), "--check", Dir()}, 120);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // And the check can fail: one changed expected output is caught.
  ScopedTempDir tmp("ssd_tiny_code");
  const std::string dir = tmp.path();
  for (const char* f : {"train.jsonl", "eval.jsonl", "train_solutions.jsonl", "eval_solutions.jsonl"}) {
    std::ifstream in(Dir() + "/" + f);
    std::ofstream(dir + "/" + f) << in.rdbuf();
  }
  std::vector<nlohmann::json> rows = ReadJsonl(dir + "/eval.jsonl");
  nlohmann::json pub = nlohmann::json::parse(rows[3]["public_test_cases"].get<std::string>());
  pub[0]["output"] = "wrong\n";
  rows[3]["public_test_cases"] = pub.dump();
  WriteJsonl(dir + "/eval.jsonl", rows);
  r = RunProcess({kPython, Generator(), "--check", dir}, 120);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("eval.jsonl:4: differs"), std::string::npos) << r.out;
}

void ExpectEverySolutionPasses(const nlohmann::json& j, size_t graded, const std::string& what) {
  ASSERT_TRUE(j.contains("graded")) << what;
  EXPECT_EQ(j["errors"].size(), 0u) << j["errors"].dump();
  EXPECT_EQ(j["graded"], graded) << what;
  EXPECT_EQ(j["passed"], j["graded"]) << what;
  for (const nlohmann::json& p : j["problems"]) {
    EXPECT_TRUE(p["passed"].get<bool>()) << what << ": " << p.dump();
  }
}

std::set<std::string> Difficulties(const std::vector<nlohmann::json>& rows) {
  std::set<std::string> out;
  for (const nlohmann::json& row : rows) out.insert(row["difficulty"].get<std::string>());
  return out;
}

// Every eval reference, and the first 10 train references of each kind of
// problem (family, difficulty, stdin or functional: 24 kinds, 223 programs,
// as some kinds have fewer); the whole train split is
// EveryTrainReferencePasses, label `slow`.
TEST(TinyCodeTest, EveryEvalReferenceAndTenTrainReferencesOfEachKindPassAndEverySplitHasEachDifficulty) {
  const std::set<std::string> all = {"easy", "medium", "hard"};
  ExpectEverySolutionPasses(Grade(Dir() + "/eval.jsonl", Dir() + "/eval_solutions.jsonl"), 200, "eval");
  EXPECT_EQ(Difficulties(ReadJsonl(Dir() + "/eval.jsonl")), all);

  const std::vector<nlohmann::json> train = ReadJsonl(Dir() + "/train.jsonl");
  EXPECT_EQ(Difficulties(train), all);
  std::map<std::string, std::string> kind_of;  // question_id -> "Family/difficulty/mode"
  for (const nlohmann::json& row : train) {
    const std::string title = row["question_title"];
    kind_of[row["question_id"]] =
        absl::StrCat(title.substr(0, title.rfind(' ')), "/", row["difficulty"].get<std::string>(), "/",
                     row["starter_code"].get<std::string>().empty() ? "stdin" : "functional");
  }
  const std::vector<nlohmann::json> solutions = ReadJsonl(Dir() + "/train_solutions.jsonl");
  ASSERT_EQ(solutions.size(), 2000u);
  std::map<std::string, int> taken;
  std::vector<nlohmann::json> sample;
  for (const nlohmann::json& s : solutions) {
    if (++taken[kind_of[s["question_id"]]] <= 10) sample.push_back(s);
  }
  EXPECT_EQ(taken.size(), 24u) << "kinds of train problem";
  ScopedTempDir tmp("ssd_tiny_code");
  const std::string dir = tmp.path();
  WriteJsonl(dir + "/train_sample.jsonl", sample);
  ExpectEverySolutionPasses(Grade(Dir() + "/train.jsonl", dir + "/train_sample.jsonl"), sample.size(), "train sample");
  EXPECT_EQ(sample.size(), 223u);
}

TEST(TinyCodeTest, EveryTrainReferencePasses) {
  ExpectEverySolutionPasses(Grade(Dir() + "/train.jsonl", Dir() + "/train_solutions.jsonl"), 2000, "train");
}

TEST(TinyCodeTest, TheTestsFailProgramsWithOneConstantOrOperatorChanged) {
  // Change the last digit or comparison of each reference program: most such
  // programs are wrong, and the tests must say so.
  ScopedTempDir tmp("ssd_tiny_code");
  const std::string dir = tmp.path();
  std::vector<nlohmann::json> sols = ReadJsonl(Dir() + "/eval_solutions.jsonl");
  int mutated = 0;
  for (nlohmann::json& s : sols) {
    std::string code = s["code"];
    const size_t at = code.find_last_of("0123456789<>");
    if (at == std::string::npos) continue;
    const char c = code[at];
    code[at] = c == '<' ? '>' : c == '>' ? '<' : c == '9' ? '7' : static_cast<char>(c + 1);
    s["code"] = code;
    ++mutated;
  }
  ASSERT_GT(mutated, 150);
  WriteJsonl(dir + "/mutants.jsonl", sols);
  const nlohmann::json j = Grade(Dir() + "/eval.jsonl", dir + "/mutants.jsonl");
  ASSERT_TRUE(j.contains("passed"));
  EXPECT_LT(j["passed"].get<int>(), 200 - mutated * 3 / 4) << "mutants that still pass: too many";
}

TEST(TinyCodeTest, TheEvalSplitSharesNoProblemWithTheTrainSplit) {
  std::set<std::string> train;
  for (const nlohmann::json& row : ReadJsonl(Dir() + "/train.jsonl")) train.insert(row["question_content"]);
  int functional = 0;
  for (const nlohmann::json& row : ReadJsonl(Dir() + "/eval.jsonl")) {
    EXPECT_EQ(train.count(row["question_content"]), 0u) << row["question_id"];
    functional += !row["starter_code"].get<std::string>().empty();
  }
  EXPECT_GT(functional, 0);
}

// --extra N (more training problems for a base model) is drawn after both
// splits: they stay byte for byte the committed ones, and no extra problem is
// in either. Its first 30 references pass in the sandbox.
TEST(TinyCodeTest, TheExtraSplitLeavesTrainAndEvalAsTheyAreAndSharesNoProblemWithEither) {
  ScopedTempDir tmp("ssd_tiny_code_extra");
  const std::string dir = tmp.path();
  ProcessResult r = RunProcess({kPython, Generator(), "--extra", "300", "--out", dir}, 120);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("2000 train, 200 eval and 300 extra problems"), std::string::npos) << r.out;
  for (const char* f : {"train.jsonl", "eval.jsonl", "train_solutions.jsonl", "eval_solutions.jsonl"}) {
    std::ifstream a(Dir() + "/" + f), b(dir + "/" + f);
    std::stringstream sa, sb;
    sa << a.rdbuf();
    sb << b.rdbuf();
    EXPECT_TRUE(sa.str() == sb.str()) << f << " differs from the committed one with --extra";
  }
  std::set<std::string> seen;
  for (const char* f : {"train.jsonl", "eval.jsonl"}) {
    for (const nlohmann::json& row : ReadJsonl(Dir() + "/" + f)) seen.insert(row["question_content"]);
  }
  std::vector<nlohmann::json> extra = ReadJsonl(dir + "/extra.jsonl"), sols = ReadJsonl(dir + "/extra_solutions.jsonl");
  ASSERT_EQ(extra.size(), 300u);
  ASSERT_EQ(sols.size(), 300u);
  std::set<std::string> ids;
  for (const nlohmann::json& row : extra) {
    EXPECT_EQ(seen.count(row["question_content"]), 0u) << row["question_id"] << " is also in train or eval";
    ids.insert(row["question_id"]);
  }
  EXPECT_EQ(ids.size(), 300u);
  EXPECT_EQ(Difficulties(extra), (std::set<std::string>{"easy", "medium", "hard"}));
  // --check covers the extra split too.
  r = RunProcess({kPython, Generator(), "--extra", "300", "--check", dir}, 120);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  extra.resize(30);
  sols.resize(30);
  WriteJsonl(dir + "/extra30.jsonl", extra);
  WriteJsonl(dir + "/extra30_solutions.jsonl", sols);
  ExpectEverySolutionPasses(Grade(dir + "/extra30.jsonl", dir + "/extra30_solutions.jsonl"), 30, "extra");

  r = RunProcess({kPython, Generator(), "--extra", "-1", "--out", dir}, 120);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--extra must be 0 or more"), std::string::npos) << r.err;
}

TEST(TinyCodeTest, SftReferencesWritesOneConversationPerSolutionWithTheSsdPrompt) {
  ScopedTempDir tmp("ssd_tiny_code");
  const std::string dir = tmp.path();
  ProcessResult r = RunProcess({SsdBinary(), "sft-references", "--benchmark", Dir() + "/train.jsonl", "--solutions",
                                Dir() + "/train_solutions.jsonl", "--out", dir + "/sft.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<nlohmann::json> lines = ReadJsonl(dir + "/sft.jsonl");
  const std::vector<nlohmann::json> sols = ReadJsonl(Dir() + "/train_solutions.jsonl");
  ASSERT_EQ(lines.size(), sols.size());
  const nlohmann::json& m = lines[0]["messages"];
  EXPECT_NE(m[0]["content"].get<std::string>().find("You will be given a question"), std::string::npos);
  EXPECT_EQ(m[1]["content"], "```python\n" + sols[0]["code"].get<std::string>() + "```");

  r = RunProcess({SsdBinary(), "sft-references", "--benchmark", Dir() + "/train.jsonl", "--solutions",
                  Dir() + "/train_solutions.jsonl", "--out", dir + "/noisy.jsonl", "--tail-noise", "0.03"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("tail_noise: needs a tokenizer"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ssd
