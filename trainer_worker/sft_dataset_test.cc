#include "trainer_worker/sft_dataset.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_join.h"
#include "common/tokenizer/bpe_trainer.h"
#include "common/util/file_util.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

// A real byte-level BPE with a ChatML template, trained once for the suite.
class SftDatasetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new ScopedTempDir("sft_dataset_test");
    dir_ = new std::string(tmp_->path());
    std::string corpus;
    for (int i = 0; i < 50; ++i) corpus += "def add(a, b):\n    return a + b\nprint the sum of two numbers\n";
    BpeTrainerOptions o;
    o.vocab_size = 300;
    ASSERT_TRUE(TrainBpeTokenizer(corpus, o, *dir_).ok());
    tokenizer_ = Tokenizer::Load(*dir_).value().release();
    chat_ = ChatTemplate::Load(*dir_).value().release();
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete tmp_;
    delete tokenizer_;
    delete chat_;
  }

  std::string WriteData(const std::string& name, const std::string& text) {
    const std::string path = JoinPath(*dir_, name);
    EXPECT_TRUE(WriteFileAtomically(path, text).ok());
    return path;
  }
  absl::StatusOr<SftDataset> Load(const std::string& path, SftDatasetOptions o = {}) {
    return LoadSftDataset(path, *chat_, *tokenizer_, o);
  }

  static ScopedTempDir* tmp_;
  static std::string* dir_;
  static Tokenizer* tokenizer_;
  static ChatTemplate* chat_;
};

ScopedTempDir* SftDatasetTest::tmp_ = nullptr;
std::string* SftDatasetTest::dir_ = nullptr;
Tokenizer* SftDatasetTest::tokenizer_ = nullptr;
ChatTemplate* SftDatasetTest::chat_ = nullptr;

const char kChat[] =
    R"({"messages":[{"role":"user","content":"print the sum"},{"role":"assistant","content":"def add(a, b):\n    return a + b"}]})";

TEST_F(SftDatasetTest, LossMaskCoversExactlyTheReplyAndItsEndOfTurnToken) {
  auto ds = Load(WriteData("one.jsonl", std::string(kChat) + "\n"));
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ(ds->examples.size(), 1u);
  const TokenizedExample& ex = ds->examples[0];
  std::vector<int32_t> masked;
  for (size_t t = 0; t < ex.ids.size(); ++t) {
    if (ex.loss_mask[t]) masked.push_back(ex.ids[t]);
  }
  EXPECT_EQ(tokenizer_->Decode(masked).value(), "def add(a, b):\n    return a + b<|im_end|>");
  EXPECT_EQ(ex.line, 1);
  EXPECT_EQ(ds->stats.target_tokens, static_cast<int64_t>(masked.size()));
}

TEST_F(SftDatasetTest, PromptResponsePairTrainsLikeTheEquivalentChat) {
  auto chat = Load(WriteData("chat.jsonl", std::string(kChat) + "\n"));
  auto pair = Load(WriteData("pair.jsonl", R"({"prompt":"print the sum","response":"def add(a, b):\n    return a + b"})"
                                           "\n"));
  ASSERT_TRUE(chat.ok() && pair.ok());
  EXPECT_EQ(chat->examples[0].ids, pair->examples[0].ids);
  EXPECT_EQ(chat->examples[0].loss_mask, pair->examples[0].loss_mask);
  EXPECT_EQ(chat->fingerprint, pair->fingerprint);
}

TEST_F(SftDatasetTest, MalformedLineFailsNamingItsLineNumber) {
  const std::string path = WriteData("bad.jsonl", std::string(kChat) + "\n\n{not json\n" + kChat + "\n");
  auto ds = Load(path);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ds.status().message().find(path + ":3: not valid JSON"), std::string::npos) << ds.status();
}

TEST_F(SftDatasetTest, SkipPolicyCountsBadLinesAndKeepsTheGoodOnes) {
  SftDatasetOptions o;
  o.bad_lines = BadLinePolicy::kSkip;
  auto ds = Load(WriteData("mixed.jsonl", std::string(kChat) + "\n{not json\n[1,2]\n" +
                                              R"({"messages":"nope"})"
                                              "\n" +
                                              kChat + "\n"),
                 o);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->stats.bad_lines, 3);
  EXPECT_EQ(ds->stats.examples, 2);
  EXPECT_EQ(ds->examples[1].line, 5);
}

TEST_F(SftDatasetTest, EmptyDatasetIsAnError) {
  auto ds = Load(WriteData("empty.jsonl", "\n  \n"));
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("no trainable examples"), std::string::npos) << ds.status();
}

TEST_F(SftDatasetTest, MessagesWithoutAnAssistantTurnAreRejected) {
  const std::string path = WriteData("noasst.jsonl", R"({"messages":[{"role":"user","content":"hi"}]})"
                                                     "\n");
  auto ds = Load(path);
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find(path + ":1: \"messages\" has no assistant turn"), std::string::npos)
      << ds.status();
}

TEST_F(SftDatasetTest, ConversationWhoseReplyIsTruncatedAwayIsDroppedAndCounted) {
  const std::string long_prompt = R"({"messages":[{"role":"user","content":")" + std::string(400, 'x') +
                                  R"("},{"role":"assistant","content":"ok"}]})";
  SftDatasetOptions o;
  o.max_seq_len = 40;
  auto ds = Load(WriteData("trunc.jsonl", long_prompt + "\n" + kChat + "\n"), o);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->stats.dropped_truncated, 1);
  ASSERT_EQ(ds->examples.size(), 1u);
  EXPECT_EQ(ds->examples[0].line, 2);

  // With nothing left, the error says why.
  auto none = Load(WriteData("trunc_only.jsonl", long_prompt + "\n"), o);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("1 dropped by truncation"), std::string::npos) << none.status();
}

TEST_F(SftDatasetTest, TruncationKeepsTheFirstMaxSeqLenTokens) {
  auto full = Load(WriteData("full.jsonl", std::string(kChat) + "\n"));
  ASSERT_TRUE(full.ok());
  const TokenizedExample& f = full->examples[0];
  int64_t first_target = 0;
  while (!f.loss_mask[static_cast<size_t>(first_target)]) ++first_target;
  SftDatasetOptions o;
  o.max_seq_len = first_target + 2;  // two reply tokens survive
  auto cut = Load(WriteData("cut.jsonl", std::string(kChat) + "\n"), o);
  ASSERT_TRUE(cut.ok()) << cut.status();
  const TokenizedExample& c = cut->examples[0];
  EXPECT_EQ(static_cast<int64_t>(c.ids.size()), o.max_seq_len);
  EXPECT_TRUE(std::equal(c.ids.begin(), c.ids.end(), f.ids.begin()));
  EXPECT_EQ(c.num_targets(), 2);
  EXPECT_EQ(cut->stats.truncated, 1);
}

TEST_F(SftDatasetTest, TokenIdsBeyondTheModelVocabularyMeanAMismatchedTokenizer) {
  SftDatasetOptions o;
  o.vocab_limit = 50;                  // far below this tokenizer's 300 ids
  o.bad_lines = BadLinePolicy::kSkip;  // fatal regardless: no line can do better
  auto ds = Load(WriteData("vocab.jsonl", std::string(kChat) + "\n"), o);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(ds.status().message().find("does not belong to this model"), std::string::npos) << ds.status();
}

TEST_F(SftDatasetTest, MissingFileIsNotFound) {
  auto ds = Load(JoinPath(*dir_, "absent.jsonl"));
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ssd
