// `ssd sample` end to end: a tiny model with a real BPE tokenizer, the three
// prompt shapes, bad lines, bad flags, greedy parity with `ssd model
// generate`, and --resume after a torn write.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"
#include "tests/testing/tiny_model.h"

namespace ssd {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<nlohmann::json> Lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (absl::string_view line : absl::StrSplit(Slurp(path), '\n', absl::SkipEmpty())) {
    out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

class SampleCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new ScopedTempDir("ssd_sample_cli");
    dir_ = new std::string(tmp_->path());
    const std::string m = *dir_ + "/model";
    const std::string failed = MakeTinyModel(m);
    ASSERT_EQ(failed, "");
    std::ofstream p(*dir_ + "/prompts.jsonl");
    p << R"({"id": "raw", "prompt": "def solve(n):"})"
      << "\n"
      << R"({"id": 7, "messages": [{"role": "user", "content": "print the sum"}]})"
      << "\n"
      << "\n"
      << R"({"question_id": "lcb1", "question_content": "Read n; print n+1.", "starter_code": ""})"
      << "\n";
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete tmp_;
  }
  static ProcessResult Sample(std::vector<std::string> extra) {
    std::vector<std::string> argv = {SsdBinary(),      "sample",    "--model",
                                     *dir_ + "/model", "--prompts", *dir_ + "/prompts.jsonl",
                                     "--threads",      "1",         "--quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunProcess(argv);
  }
  static ScopedTempDir* tmp_;
  static std::string* dir_;
};
ScopedTempDir* SampleCliTest::tmp_ = nullptr;
std::string* SampleCliTest::dir_ = nullptr;

TEST_F(SampleCliTest, WritesEverySampleOfEveryPromptShape) {
  const std::string out = *dir_ + "/all.jsonl";
  ProcessResult r = Sample(
      {"--n", "3", "--temperature", "1.5", "--top-k", "20", "--top-p", "0.8", "--max-tokens", "24", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, int> per_prompt;
  for (const auto& j : Lines(out)) {
    for (const char* k :
         {"prompt_id", "sample_index", "text", "ids", "finish_reason", "num_tokens", "cumulative_logprob"}) {
      ASSERT_TRUE(j.contains(k)) << k << " in " << j.dump();
    }
    EXPECT_EQ(j["num_tokens"].get<size_t>(), j["ids"].size());
    EXPECT_TRUE(j["finish_reason"] == "stop" || j["finish_reason"] == "length");
    ++per_prompt[j["prompt_id"].get<std::string>()];
  }
  EXPECT_EQ(per_prompt, (std::map<std::string, int>{{"raw", 3}, {"7", 3}, {"lcb1", 3}}));
  EXPECT_NE(r.err.find("peak RSS"), std::string::npos) << r.err;
}

TEST_F(SampleCliTest, GreedyIdsEqualModelGenerate) {
  const std::string out = *dir_ + "/greedy.jsonl";
  ProcessResult r = Sample({"--temperature", "0", "--max-tokens", "20", "--ignore-eos", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ProcessResult ids = RunProcess({SsdBinary(), "tokenize", "--tokenizer", *dir_ + "/model", "--text", "def solve(n):"});
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  nlohmann::json prompt = nlohmann::json::parse(ids.out);
  std::string csv;
  for (const auto& v : prompt) csv += (csv.empty() ? "" : ",") + std::to_string(v.get<int64_t>());
  ProcessResult gen = RunProcess({SsdBinary(), "model", "generate", "--model", *dir_ + "/model", "--ids", csv,
                                  "--max-new-tokens", "20", "--ignore-eos"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  for (const auto& j : Lines(out)) {
    if (j["prompt_id"] == "raw") {
      EXPECT_EQ(j["ids"], nlohmann::json::parse(gen.out));
    }
  }
}

TEST_F(SampleCliTest, ResumeAfterATornWriteCompletesWithIdenticalSamples) {
  const std::string full = *dir_ + "/full.jsonl", part = *dir_ + "/part.jsonl";
  std::vector<std::string> args = {"--n", "4", "--temperature", "1.0", "--max-tokens", "16", "--seed", "5"};
  auto with_out = [&](const std::string& out, bool resume) {
    std::vector<std::string> a = args;
    a.insert(a.end(), {"--out", out});
    if (resume) a.push_back("--resume");
    return Sample(a);
  };
  ASSERT_EQ(with_out(full, false).exit_code, 0);
  // A run killed after 5 samples, in the middle of writing the sixth.
  std::vector<std::string> lines = absl::StrSplit(Slurp(full), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 12u);
  {
    std::ofstream torn(part);
    for (int i = 0; i < 5; ++i) torn << lines[i] << "\n";
    torn << lines[5].substr(0, lines[5].size() / 2);
  }
  ProcessResult r = with_out(part, true);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("5 skipped as already done"), std::string::npos) << r.err;
  std::map<std::pair<std::string, int>, std::string> a, b;
  for (const auto& j : Lines(full)) a[{j["prompt_id"], j["sample_index"]}] = j.dump();
  for (const auto& j : Lines(part)) {
    auto key = std::make_pair(j["prompt_id"].get<std::string>(), j["sample_index"].get<int>());
    EXPECT_FALSE(b.count(key)) << "duplicate " << key.first << "/" << key.second;
    b[key] = j.dump();
  }
  EXPECT_EQ(a, b);
}

TEST_F(SampleCliTest, BadLinesAreReportedWithLineNumbersAndTheRestIsSampled) {
  std::ofstream(*dir_ + "/bad.jsonl") << R"({"id": "ok", "prompt": "x = 1"})"
                                      << "\n{not json\n"
                                      << R"({"id": "ok", "prompt": "dup"})"
                                      << "\n"
                                      << R"({"id": "m", "messages": "nope"})"
                                      << "\n"
                                      << R"({"question_id": "q"})"
                                      << "\n";
  const std::string out = *dir_ + "/bad_out.jsonl";
  ProcessResult r = RunProcess({SsdBinary(), "sample", "--model", *dir_ + "/model", "--prompts", *dir_ + "/bad.jsonl",
                                "--max-tokens", "4", "--out", out, "--quiet"});
  EXPECT_NE(r.exit_code, 0);
  for (const char* want : {"bad.jsonl:2: not valid JSON", "bad.jsonl:3: id \"ok\" appears on an earlier line",
                           "bad.jsonl:4: \"messages\" must be a non-empty array", "bad.jsonl:5:"}) {
    EXPECT_NE(r.err.find(want), std::string::npos) << want << "\n" << r.err;
  }
  EXPECT_EQ(Lines(out).size(), 1u);
}

TEST_F(SampleCliTest, SmallKvBudgetRunsMixedShortAndLongGenerationsWithinIt) {
  // 3 MiB holds 384 blocks of 16 positions: 6144 positions, not enough for
  // both 4096-token generations at once, so the engine must wait or preempt.
  {
    std::ofstream p(*dir_ + "/mixed.jsonl");
    for (int i = 0; i < 2; ++i)
      p << R"({"id": "long)" << i << R"(", "prompt": "def solve(n):", "max_tokens": 4096})"
        << "\n";
    for (int i = 0; i < 10; ++i)
      p << R"({"id": "short)" << i << R"(", "prompt": "print(", "max_tokens": 8})"
        << "\n";
  }
  const std::string out = *dir_ + "/mixed_out.jsonl";
  ProcessResult r = RunProcess({SsdBinary(), "sample", "--model", *dir_ + "/model", "--prompts", *dir_ + "/mixed.jsonl",
                                "--kv-cache-mb", "3", "--max-seqs", "6", "--ignore-eos", "--out", out, "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, int64_t> tokens;
  for (const auto& j : Lines(out)) tokens[j["prompt_id"]] = j["num_tokens"];
  ASSERT_EQ(tokens.size(), 12u);
  EXPECT_EQ(tokens["long0"], 4096);
  EXPECT_EQ(tokens["long1"], 4096);
  EXPECT_EQ(tokens["short3"], 8);
  // "KV peak X MiB of 3 MiB": the peak stays within the budget.
  const size_t at = r.err.find("KV peak ");
  ASSERT_NE(at, std::string::npos) << r.err;
  EXPECT_LE(std::stod(r.err.substr(at + 8)), 3.0) << r.err;
  std::cout << r.err;  // the summary line, with peak RSS, for the log
}

// The defaults are the ssd-train preset with room for a code answer: no
// flags gives exactly what the preset's values given by hand give.
TEST_F(SampleCliTest, DefaultsAreTheSsdTrainPresetAndFlagsOverrideAPreset) {
  ProcessResult help = RunProcess({SsdBinary(), "sample", "--help"});
  EXPECT_NE(help.out.find("ssd-train"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("ssd-eval"), std::string::npos) << help.out;
  const std::string a = *dir_ + "/defaults.jsonl", b = *dir_ + "/by_hand.jsonl", c = *dir_ + "/eval_preset.jsonl",
                    d = *dir_ + "/eval_by_hand.jsonl";
  ProcessResult r = Sample({"--ignore-eos", "--out", a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Sample({"--ignore-eos", "--n", "1", "--temperature", "1.5", "--top-k", "20", "--top-p", "0.8", "--min-p", "0",
              "--repetition-penalty", "1", "--max-tokens", "2048", "--out", b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines(a).size(), 3u);
  EXPECT_EQ(Slurp(a), Slurp(b));
  // Without stop tokens the default length is what cut the samples: 2048
  // tokens, not 16.
  int64_t longest = 0;
  for (const auto& j : Lines(a)) longest = std::max<int64_t>(longest, j["num_tokens"]);
  EXPECT_EQ(longest, 2048);

  r = Sample({"--preset", "ssd-eval", "--top-k", "5", "--max-tokens", "32", "--out", c});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Sample({"--temperature", "1.1", "--top-k", "5", "--top-p", "0.8", "--max-tokens", "32", "--out", d});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Slurp(c), Slurp(d));
  EXPECT_NE(Slurp(c), Slurp(b));

  r = Sample({"--preset", "paper", "--out", *dir_ + "/never.jsonl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--preset: \"paper\" is not one of ssd-train, ssd-eval"), std::string::npos) << r.err;
}

TEST_F(SampleCliTest, ARunWhoseSamplesOftenEndByLengthSaysSoWithTheCount) {
  ProcessResult r = Sample({"--n", "2", "--max-tokens", "8", "--ignore-eos", "--out", *dir_ + "/short.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("6 ended by length"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("warning: 6 of 6 samples (100.0%) ended by length"), std::string::npos) << r.err;
  // Samples that stop on their own draw no warning: with the default length
  // this random model reaches its end-of-turn token first.
  r = Sample({"--n", "2", "--out", *dir_ + "/stopped.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int length = 0;
  for (const auto& j : Lines(*dir_ + "/stopped.jsonl")) length += j["finish_reason"] == "length";
  ASSERT_EQ(length, 0) << "the probe needs samples that stop";
  EXPECT_NE(r.err.find("0 ended by length"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("warning:"), std::string::npos) << r.err;
}

TEST_F(SampleCliTest, MaxTokensBeyondTheContextWarnsOnceAndIsCapped) {
  const std::string m = *dir_ + "/short_context";
  ASSERT_EQ(MakeTinyModel(m, 320, 48), "");
  std::ofstream(*dir_ + "/two.jsonl") << R"({"id": "a", "prompt": "def f():", "max_tokens": 5000})"
                                      << "\n"
                                      << R"({"id": "b", "prompt": "x ="})"
                                      << "\n";
  const std::string out = *dir_ + "/capped.jsonl";
  ProcessResult r = RunProcess({SsdBinary(), "sample", "--model", m, "--prompts", *dir_ + "/two.jsonl", "--n", "2",
                                "--max-tokens", "100000", "--ignore-eos", "--threads", "1", "--quiet", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string warning = "is beyond the model's context: max_position_embeddings is 48";
  const size_t first = r.err.find(warning);
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--max-tokens 100000"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(warning, first + 1), std::string::npos) << "warned twice:\n" << r.err;
  for (const auto& j : Lines(out)) {
    EXPECT_LE(j["num_tokens"].get<int>(), 48);
    EXPECT_EQ(j["finish_reason"], "length");
  }
}

TEST_F(SampleCliTest, AModelWithoutATokenizerSaysHowToAttachOneAndTokenizerDirWorks) {
  const std::string bare = *dir_ + "/bare";
  ProcessResult init = RunProcess({SsdBinary(), "model", "init", "--vocab", "320", "--hidden", "64", "--layers", "2",
                                   "--init-std", "0.2", "--out", bare});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const std::vector<std::string> base = {
      SsdBinary(),    "sample", "--model",   bare, "--prompts", *dir_ + "/prompts.jsonl",
      "--max-tokens", "8",      "--threads", "1",  "--quiet"};
  std::vector<std::string> argv = base;
  argv.insert(argv.end(), {"--out", *dir_ + "/bare.jsonl"});
  ProcessResult r = RunProcess(argv);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(bare + " has no tokenizer.json: pass --tokenizer DIR or copy it in with `ssd model init "
                              "--tokenizer`"),
            std::string::npos)
      << r.err;
  argv = base;
  argv.insert(argv.end(), {"--tokenizer", *dir_ + "/model", "--out", *dir_ + "/bare.jsonl"});
  r = RunProcess(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines(*dir_ + "/bare.jsonl").size(), 3u);

  // A missing folder, or one that is not a model, is said so first.
  argv = {SsdBinary(), "sample",          "--model", *dir_ + "/no-such-model", "--prompts", *dir_ + "/prompts.jsonl",
          "--out",     *dir_ + "/x.jsonl"};
  r = RunProcess(argv);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(*dir_ + "/no-such-model: no such model folder"), std::string::npos) << r.err;
  argv[3] = *dir_;
  r = RunProcess(argv);
  EXPECT_NE(r.err.find(*dir_ + " is not a model folder: it has no config.json"), std::string::npos) << r.err;
}

// Every line carries the prompt as the model saw it and the conversation it
// answered; --sft-out writes that conversation plus the answer, ml-ssd's
// chat format, ready for `ssd filter` and `ssd train`.
TEST_F(SampleCliTest, LinesCarryTheirPromptAndSftOutWritesChatLines) {
  const std::string out = *dir_ + "/with_prompt.jsonl", sft = *dir_ + "/sft.jsonl";
  ProcessResult r = Sample({"--n", "2", "--max-tokens", "12", "--out", out, "--sft-out", sft});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ProcessResult tmpl = RunProcess({SsdBinary(), "tokenize", "--tokenizer", *dir_ + "/model", "--special", "--text",
                                   "<|im_start|>user\nprint the sum<|im_end|>\n<|im_start|>assistant\n"});
  ASSERT_EQ(tmpl.exit_code, 0) << tmpl.err;
  std::map<std::pair<std::string, int>, std::string> texts;
  for (const auto& j : Lines(out)) {
    ASSERT_TRUE(j.contains("prompt") && j.contains("messages")) << j.dump();
    const std::string id = j["prompt_id"];
    texts[{id, j["sample_index"].get<int>()}] = j["text"];
    ASSERT_EQ(j["messages"].size(), 1u);
    EXPECT_EQ(j["messages"][0]["role"], "user");
    if (id == "raw") {
      EXPECT_EQ(j["prompt"], "def solve(n):");
      EXPECT_EQ(j["messages"][0]["content"], "def solve(n):");
    } else if (id == "7") {
      EXPECT_EQ(j["prompt"], "<|im_start|>user\nprint the sum<|im_end|>\n<|im_start|>assistant\n");
      EXPECT_EQ(j["messages"][0]["content"], "print the sum");
    } else {
      const std::string content = j["messages"][0]["content"];
      EXPECT_NE(content.find("Read n; print n+1."), std::string::npos) << content;
      EXPECT_NE(content.find("You will be given a question"), std::string::npos) << content;
      EXPECT_NE(j["prompt"].get<std::string>().find(content), std::string::npos);
    }
  }
  const std::vector<nlohmann::json> chats = Lines(sft);
  ASSERT_EQ(chats.size(), texts.size());
  std::multiset<std::string> answers, want;
  for (const auto& [k, t] : texts) want.insert(t);
  for (const auto& j : chats) {
    ASSERT_EQ(j.size(), 1u) << j.dump();
    ASSERT_EQ(j["messages"].size(), 2u) << j.dump();
    EXPECT_EQ(j["messages"][0]["role"], "user");
    EXPECT_EQ(j["messages"][1]["role"], "assistant");
    answers.insert(j["messages"][1]["content"].get<std::string>());
  }
  EXPECT_EQ(answers, want);
}

// --dtype bf16: bf16 weight matrices in fp32 kernels. Its samples come from
// a slightly different model than fp32's, but within the bf16 path a
// sample must still not depend on its batch: one sequence at a time and 12
// at once give the same lines.
TEST_F(SampleCliTest, Bf16WeightsSampleTheSameLinesOneAtATimeAndBatched) {
  const std::string one = *dir_ + "/bf16_one.jsonl", many = *dir_ + "/bf16_many.jsonl";
  const std::vector<std::string> common = {"--dtype", "bf16", "--n", "4", "--max-tokens", "24", "--seed", "3"};
  std::vector<std::string> a = common, b = common;
  a.insert(a.end(), {"--max-seqs", "1", "--out", one});
  b.insert(b.end(), {"--max-seqs", "12", "--out", many});
  ProcessResult r1 = Sample(a), r2 = Sample(b);
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  auto by_key = [](const std::string& path) {
    std::map<std::string, nlohmann::json> out;
    for (const auto& j : Lines(path)) {
      out[j["prompt_id"].get<std::string>() + "/" + std::to_string(j["sample_index"].get<int>())] = j["ids"];
    }
    return out;
  };
  const auto x = by_key(one), y = by_key(many);
  EXPECT_EQ(x.size(), 12u);
  EXPECT_EQ(x, y);
}

TEST_F(SampleCliTest, BadParametersAreRefusedNamingTheParameter) {
  const std::string out = *dir_ + "/never.jsonl";
  for (auto [flag, value, name] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--temperature", "-1", "temperature"},
           {"--top-p", "1.5", "top_p"},
           {"--top-p", "0", "top_p"},
           {"--max-tokens", "0", "max_tokens"},
           {"--min-p", "2", "min_p"},
           {"--stop-token", "<|no_such_token|>", "<|no_such_token|>"},
           {"--dtype", "fp8", "--dtype"}}) {
    ProcessResult r = Sample({flag, value, "--out", out});
    EXPECT_EQ(r.exit_code, 2) << flag << " " << value << "\n" << r.err;
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace ssd
