// `ssd filter` end to end: SSD's filter (the coordinator's code, common/filter)
// over `ssd sample` lines and chat JSONL, one global quantile across files,
// each rule's flag, and bad lines named FILE:LINE.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

using Json = nlohmann::json;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The assistant answers of a chat JSONL file, checking each line's shape.
std::multiset<std::string> Answers(const std::string& path) {
  std::multiset<std::string> out;
  for (absl::string_view line : absl::StrSplit(Slurp(path), '\n', absl::SkipEmpty())) {
    const Json j = Json::parse(line);
    EXPECT_EQ(j.size(), 1u) << line;
    EXPECT_GE(j["messages"].size(), 2u) << line;
    EXPECT_EQ(j["messages"].back()["role"], "assistant") << line;
    out.insert(j["messages"].back()["content"].get<std::string>());
  }
  return out;
}

std::string SampleLine(const std::string& id, int index, const std::string& text, int num_tokens) {
  return Json{{"prompt_id", id},
              {"sample_index", index},
              {"text", text},
              {"ids", Json::array()},
              {"finish_reason", "stop"},
              {"num_tokens", num_tokens},
              {"cumulative_logprob", -1.0},
              {"prompt", "<|im_start|>user\n" + id + "<|im_end|>\n<|im_start|>assistant\n"},
              {"messages", {{{"role", "user"}, {"content", "solve " + id}}}}}
             .dump() +
         "\n";
}

std::string ChatLine(const std::string& user, const std::string& answer) {
  return Json{{"messages", {{{"role", "user"}, {"content", user}}, {{"role", "assistant"}, {"content", answer}}}}}
             .dump() +
         "\n";
}

class FilterCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Sample lines: chars 7, 12, 21, 30 (two lines each), one blank and one
    // single-line stub; their token counts run the other way.
    std::ofstream(dir_ + "/samples.jsonl")
        << SampleLine("p1", 0, "def f:\n", 40) << SampleLine("p1", 1, "x = 1\ny = 22\n", 30)
        << SampleLine("p2", 0, "import os\nprint(os)\n", 20) << SampleLine("p2", 1, "   \n ", 1)
        << SampleLine("p3", 0, "def g(a):\n    return a * 2\n", 10) << SampleLine("p3", 1, "pass", 2);
    // Chat lines (what `ssd sample --sft-out` and `ssd export` write): chars
    // 5, 16, 25, 34.
    std::ofstream(dir_ + "/chat.jsonl") << ChatLine("q1", "a\nb\nc") << ChatLine("q2", "for i in x:\n  go\n")
                                        << ChatLine("q3", "while True:\n    break\n  ")
                                        << ChatLine("q4", "class A:\n    def m(self):\n  pass\n");
    all_ = {"def f:\n",
            "x = 1\ny = 22\n",
            "import os\nprint(os)\n",
            "   \n ",
            "def g(a):\n    return a * 2\n",
            "pass",
            "a\nb\nc",
            "for i in x:\n  go\n",
            "while True:\n    break\n  ",
            "class A:\n    def m(self):\n  pass\n"};
  }
  ProcessResult Filter(std::vector<std::string> extra) {
    std::vector<std::string> argv = {SsdBinary(), "filter", "--out", dir_ + "/out.jsonl"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunProcess(argv);
  }
  std::multiset<std::string> AllBut(const std::set<std::string>& gone) {
    std::multiset<std::string> out;
    for (const std::string& a : all_) {
      if (!gone.count(a)) out.insert(a);
    }
    return out;
  }

  ScopedTempDir tmp_{"ssd_filter_cli"};
  std::string dir_ = tmp_.path();
  std::vector<std::string> all_;
};

TEST_F(FilterCliTest, DefaultsDropEmptyThenTheShortestTenPercentOfBothFilesTogether) {
  ProcessResult r = Filter({"--in", dir_ + "/samples.jsonl", "--in", dir_ + "/chat.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 10 answers, 1 blank; 10% of the 9 left is 0.9: floor gives none.
  EXPECT_EQ(Answers(dir_ + "/out.jsonl"), AllBut({"   \n "}));
  EXPECT_NE(r.err.find("filtered 10 samples: dropped 1 empty, 0 single-line, 0 short"), std::string::npos) << r.err;

  // 25% of 9 is 2: the two shortest over both files, "pass" (4 chars, a
  // sample line) and "a\nb\nc" (5, a chat line); per file it would differ.
  r = Filter({"--in", dir_ + "/samples.jsonl", "--in", dir_ + "/chat.jsonl", "--drop-shortest-percent", "25"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Answers(dir_ + "/out.jsonl"), AllBut({"   \n ", "pass", "a\nb\nc"}));
  EXPECT_NE(r.err.find("dropped 1 empty, 0 single-line, 2 short (the shortest 25% of 9"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("wrote 7 to " + dir_ + "/out.jsonl"), std::string::npos) << r.err;
}

TEST_F(FilterCliTest, SampleLinesBecomeTheirConversationPlusTheAnswer) {
  ProcessResult r = Filter({"--in", dir_ + "/samples.jsonl", "--drop-shortest-percent", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(Slurp(dir_ + "/out.jsonl"), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u);
  // File order is kept.
  EXPECT_EQ(Json::parse(lines[0]), Json::parse(R"({"messages": [{"role": "user", "content": "solve p1"},
                                         {"role": "assistant", "content": "def f:\n"}]})"));
}

TEST_F(FilterCliTest, EachRuleHasItsFlag) {
  ProcessResult r =
      Filter({"--in", dir_ + "/samples.jsonl", "--keep-empty", "--drop-single-line", "--drop-shortest-percent", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // "   \n " has no non-blank line, so the stub rule takes it too; "pass"
  // and "def f:\n" are single lines.
  EXPECT_EQ(Answers(dir_ + "/out.jsonl"),
            (std::multiset<std::string>{"x = 1\ny = 22\n", "import os\nprint(os)\n", "def g(a):\n    return a * 2\n"}));
  EXPECT_NE(r.err.find("dropped 0 empty, 3 single-line, 0 short"), std::string::npos) << r.err;

  // By tokens the sample lines' own counts decide: 40, 30, 20, 10, 2 after
  // the blank goes; 40% of 5 drops "pass" (2) and "def g" (10).
  r = Filter({"--in", dir_ + "/samples.jsonl", "--by", "tokens", "--drop-shortest-percent", "40"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Answers(dir_ + "/out.jsonl"),
            (std::multiset<std::string>{"def f:\n", "x = 1\ny = 22\n", "import os\nprint(os)\n"}));

  // Chat lines carry no counts: --by tokens needs the tokenizer.
  r = Filter({"--in", dir_ + "/chat.jsonl", "--by", "tokens"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("pass --tokenizer DIR"), std::string::npos) << r.err;

  for (auto [flag, value, want] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--by", "words", "--by: \"words\" is not one of chars, tokens"},
           {"--drop-shortest-percent", "100", "--drop-shortest-percent: must be in [0, 100), got 100"},
           {"--on-bad-line", "ignore", "--on-bad-line"}}) {
    r = Filter({"--in", dir_ + "/chat.jsonl", flag, value});
    EXPECT_EQ(r.exit_code, 2) << flag;
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
  }
}

TEST_F(FilterCliTest, ByTokensCountsChatAnswersWithTheTokenizer) {
  std::ofstream(dir_ + "/corpus.txt") << "def f(x):\n    return x\n"
                                      << "for i in x:\n  go\n";
  ProcessResult t = RunProcess({SsdBinary(), "tokenizer", "train", "--corpus", dir_ + "/corpus.txt", "--vocab-size",
                                "280", "--out", dir_ + "/tok"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  ProcessResult r = Filter(
      {"--in", dir_ + "/chat.jsonl", "--by", "tokens", "--tokenizer", dir_ + "/tok", "--drop-shortest-percent", "25"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Answers(dir_ + "/out.jsonl").size(), 3u);
  EXPECT_NE(r.err.find("1 short (the shortest 25% of 4, lengths up to"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" tokens)"), std::string::npos) << r.err;
}

TEST_F(FilterCliTest, BadLinesAreNamedByFileAndLineAndFailUnlessSkipped) {
  std::ofstream(dir_ + "/bad.jsonl") << ChatLine("q", "fine\nanswer\n") << "{not json\n"
                                     << R"({"messages": [{"role": "user", "content": "no answer"}]})"
                                     << "\n"
                                     << "\n"
                                     << R"({"prompt_id": "old", "sample_index": 0, "text": "x\ny"})"
                                     << "\n"
                                     << R"({"id": 3})"
                                     << "\n";
  const std::string bad = dir_ + "/bad.jsonl";
  ProcessResult r = Filter({"--in", bad});
  EXPECT_EQ(r.exit_code, 2);
  for (const std::string& want : {bad + ":2: not valid JSON", bad + ":3: \"messages\" must be a prompt and its answer",
                                  bad + ":5: a sample line without \"messages\"", bad + ":6: neither a chat line"}) {
    EXPECT_NE(r.err.find(want), std::string::npos) << want << "\n" << r.err;
  }
  EXPECT_NE(r.err.find("nothing written"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/out.jsonl"));

  r = Filter({"--in", bad, "--on-bad-line", "skip"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Answers(dir_ + "/out.jsonl"), (std::multiset<std::string>{"fine\nanswer\n"}));
  EXPECT_NE(r.err.find("4 bad line(s) skipped"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ssd
