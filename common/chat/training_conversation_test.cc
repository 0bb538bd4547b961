#include "common/chat/training_conversation.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/chat/chat_record.h"
#include "common/tokenizer/bpe_trainer.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

using Json = nlohmann::ordered_json;

// A real byte-level BPE with a ChatML template, trained once for the suite.
class TrainingConversationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new ScopedTempDir("training_conversation_test");
    std::string corpus;
    for (int i = 0; i < 50; ++i) corpus += "def add(a, b):\n    return a + b\nprint the sum of two numbers\n";
    BpeTrainerOptions o;
    o.vocab_size = 300;
    ASSERT_TRUE(TrainBpeTokenizer(corpus, o, tmp_->path()).ok());
    tokenizer_ = Tokenizer::Load(tmp_->path()).value().release();
    chat_ = ChatTemplate::Load(tmp_->path()).value().release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete chat_;
    delete tmp_;
  }
  static absl::StatusOr<TokenizedExample> Tokenize(const Json& messages, ConversationOptions o, bool* truncated) {
    return TokenizeConversation(messages, *chat_, *tokenizer_, o, truncated);
  }

  static ScopedTempDir* tmp_;
  static Tokenizer* tokenizer_;
  static ChatTemplate* chat_;
};

ScopedTempDir* TrainingConversationTest::tmp_ = nullptr;
Tokenizer* TrainingConversationTest::tokenizer_ = nullptr;
ChatTemplate* TrainingConversationTest::chat_ = nullptr;

const Json kChat = Json::array({Json{{"role", "user"}, {"content", "print the sum"}},
                                Json{{"role", "assistant"}, {"content", "def add(a, b):\n    return a + b"}}});

TEST_F(TrainingConversationTest, TheMaskCoversExactlyTheReplyAndItsEndOfTurnToken) {
  bool truncated = true;
  auto ex = Tokenize(kChat, ConversationOptions(), &truncated);
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_FALSE(truncated);
  std::vector<int32_t> masked;
  for (size_t t = 0; t < ex->ids.size(); ++t) {
    if (ex->loss_mask[t]) masked.push_back(ex->ids[t]);
  }
  EXPECT_EQ(tokenizer_->Decode(masked).value(), "def add(a, b):\n    return a + b<|im_end|>");
  EXPECT_EQ(ex->loss_mask[0], 0) << "nothing predicts token 0";
  const ExampleSize size = SizeOf(*ex);
  EXPECT_EQ(size.tokens, static_cast<int64_t>(ex->ids.size()));
  EXPECT_EQ(size.loss_tokens, static_cast<int64_t>(masked.size()));
}

TEST_F(TrainingConversationTest, TruncationKeepsThePrefixAndARepliesCutAwayIsNotFound) {
  bool truncated = false;
  auto full = Tokenize(kChat, ConversationOptions(), &truncated);
  ASSERT_TRUE(full.ok());
  ConversationOptions o;
  o.max_seq_len = static_cast<int64_t>(full->ids.size()) - 2;
  auto cut = Tokenize(kChat, o, &truncated);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_TRUE(truncated);
  EXPECT_EQ(cut->ids, std::vector<int32_t>(full->ids.begin(), full->ids.begin() + o.max_seq_len));
  o.max_seq_len = 3;  // inside the prompt
  EXPECT_EQ(Tokenize(kChat, o, &truncated).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TrainingConversationTest, ATokenOutsideTheModelsVocabularyIsAFailedPrecondition) {
  ConversationOptions o;
  o.vocab_limit = 10;
  bool truncated = false;
  auto ex = Tokenize(kChat, o, &truncated);
  EXPECT_EQ(ex.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(ex.status().message().find("vocab_size is 10"), std::string::npos) << ex.status();
}

TEST_F(TrainingConversationTest, ASamplesSizeIsTheSizeOfTheLineATrainerReads) {
  // Bytes that are not UTF-8 become U+FFFD in the line: the size follows.
  for (const std::string& answer : {std::string("def add(a, b):\n    return a + b"), std::string("return\xff\xfe a")}) {
    ConversationOptions o;
    absl::StatusOr<ExampleSize> size = SizeTrainingConversation("", "print the sum", answer, *chat_, *tokenizer_, o);
    ASSERT_TRUE(size.ok()) << size.status();
    auto line = SampleConversationLine("", "print the sum", answer);
    ASSERT_TRUE(line.ok());
    bool truncated = false;
    auto ex = Tokenize(*ParseChatRecord(*line), o, &truncated);
    ASSERT_TRUE(ex.ok());
    EXPECT_EQ(size->tokens, SizeOf(*ex).tokens);
    EXPECT_EQ(size->loss_tokens, SizeOf(*ex).loss_tokens);
  }
  ConversationOptions tiny;
  tiny.max_seq_len = 3;
  auto cut = SizeTrainingConversation("", "print the sum", "x", *chat_, *tokenizer_, tiny);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->tokens, 3);
  EXPECT_EQ(cut->loss_tokens, 0) << "a sample the cut leaves without targets";
}

TEST_F(TrainingConversationTest, OptionsNameTheBadField) {
  ConversationOptions o;
  o.max_seq_len = 1;
  EXPECT_EQ(o.Validate().message(), "max_seq_len: must be >= 2, got 1");
  o.max_seq_len = 8;
  o.vocab_limit = -1;
  EXPECT_EQ(o.Validate().message(), "vocab_limit: must be >= 0");
}

}  // namespace
}  // namespace ssd
