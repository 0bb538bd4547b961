#include "common/eval/reference_sft.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/eval/prompting.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using nlohmann::json;

Benchmark TwoProblems() {
  Benchmark b;
  Problem stdin_problem;
  stdin_problem.question_id = "p-stdin";
  stdin_problem.content = "Read n and print n + 1.";
  Problem functional;
  functional.question_id = "p-func";
  functional.content = "Return n * 2.";
  functional.starter_code = "class Solution:\n    def f(self, n: int) -> int:\n        ";
  functional.test_type = TestType::kFunctional;
  b.problems = {stdin_problem, functional};
  b.index = {{"p-stdin", 0}, {"p-func", 1}};
  return b;
}

// Whole-word tokens "zeta" (as " zeta") and "omega"; "(" and the added
// token are not words and must never be drawn.
std::unique_ptr<Tokenizer> WordTokenizer() {
  json j;
  j["added_tokens"] = json::array({{{"id", 4}, {"content", "<|end|>"}, {"special", true}, {"normalized", false}}});
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"},
                {"vocab", {{"\xc4\xa0zeta", 0}, {"omega", 1}, {"(", 2}, {"\xc4\xa0", 3}}},
                {"merges", json::array()}};
  auto t = Tokenizer::FromJson(j.dump(), "words/tokenizer.json");
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : nullptr;
}

json Messages(const std::string& line) { return json::parse(line)["messages"]; }

TEST(ReferenceSftTest, TheUserTurnIsTheSsdPromptAndTheAnswerIsTheCodeInAFenceGradersExtract) {
  const Benchmark b = TwoProblems();
  const std::vector<Solution> sols = {{"p-stdin", "n = int(input())\nprint(n + 1)"},
                                      {"p-func", "class Solution:\n    def f(self, n):\n        return n * 2\n"}};
  auto sft = MakeReferenceSft(b, sols, {});
  ASSERT_TRUE(sft.ok()) << sft.status();
  ASSERT_EQ(sft->lines.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const json m = Messages(sft->lines[i]);
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0]["role"], "user");
    EXPECT_EQ(m[0]["content"], *FormatProblemPrompt(DefaultSsdPrompts(), b.problems[i]));
    EXPECT_EQ(m[1]["role"], "assistant");
    const std::string answer = m[1]["content"];
    EXPECT_EQ(answer.rfind("```python\n", 0), 0u) << answer;
    std::string want = sols[i].code;
    if (want.back() == '\n') want.pop_back();
    EXPECT_EQ(ExtractCode(answer), want);
  }
  EXPECT_EQ(sft->words_replaced, 0);
  EXPECT_GT(sft->words, 10);
}

TEST(ReferenceSftTest, TailNoiseReplacesAboutItsShareOfCodeWordsWithVocabularyWordsOnlyAndDependsOnTheSeed) {
  const Benchmark b = TwoProblems();
  std::string code;
  for (int i = 0; i < 400; ++i) absl::StrAppend(&code, "x", i, " = (y + ", i, ")\n");
  const std::vector<Solution> sols = {{"p-stdin", code}};
  auto tok = WordTokenizer();
  ASSERT_NE(tok, nullptr);
  ReferenceSftOptions o;
  o.tail_noise = 0.1;
  o.tokenizer = tok.get();
  auto a = MakeReferenceSft(b, sols, o);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->words, 1200);
  // 1200 Bernoulli(0.1) draws: mean 120, sd ~10.4.
  EXPECT_GT(a->words_replaced, 80);
  EXPECT_LT(a->words_replaced, 160);
  const std::string answer = Messages(a->lines[0])[1]["content"];
  // Punctuation and layout survive; every word is the original or a
  // vocabulary word.
  EXPECT_EQ(std::count(answer.begin(), answer.end(), '('), 400);
  std::set<std::string> foreign;
  std::string word;
  for (char c : ExtractCode(answer) + "\n") {
    if (isalnum(static_cast<unsigned char>(c)) || c == '_') {
      word.push_back(c);
    } else if (!word.empty()) {
      if (word[0] != 'x' && word != "y" && !isdigit(static_cast<unsigned char>(word[0]))) foreign.insert(word);
      word.clear();
    }
  }
  EXPECT_EQ(foreign, (std::set<std::string>{"zeta", "omega"}));

  auto again = MakeReferenceSft(b, sols, o);
  EXPECT_EQ(again->lines, a->lines);
  o.seed = 2;
  auto other = MakeReferenceSft(b, sols, o);
  EXPECT_NE(other->lines, a->lines);
}

TEST(ReferenceSftTest, BadOptionsAndUnknownProblemsAreNamed) {
  const Benchmark b = TwoProblems();
  ReferenceSftOptions o;
  o.tail_noise = 0.6;
  auto s = MakeReferenceSft(b, {}, o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("tail_noise"), std::string::npos) << s.status();
  o.tail_noise = 0.1;
  s = MakeReferenceSft(b, {}, o);
  EXPECT_NE(s.status().message().find("needs a tokenizer"), std::string::npos) << s.status();

  auto ok = MakeReferenceSft(b, {{"nope", "print(1)"}, {"p-stdin", "print(1)"}}, {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->lines.size(), 1u);
  EXPECT_EQ(ok->errors, (std::vector<std::string>{"nope: not in the benchmark"}));
}

}  // namespace
}  // namespace ssd
