#include "common/chat/chat_record.h"

#include <gtest/gtest.h>

namespace ssd {
namespace {

using Json = nlohmann::ordered_json;

Json Msgs(std::initializer_list<std::pair<const char*, const char*>> turns) {
  Json m = Json::array();
  for (const auto& [role, content] : turns) m.push_back(Json{{"role", role}, {"content", content}});
  return m;
}

TEST(ChatRecordTest, ValidationNamesTheFirstBadMessage) {
  EXPECT_TRUE(ValidateMessages(Msgs({{"user", "q"}})).ok());
  EXPECT_EQ(ValidateMessages(Json::array()).message(), "\"messages\" must be a non-empty array");
  EXPECT_EQ(ValidateMessages(Json::object()).message(), "\"messages\" must be a non-empty array");
  Json bad = Msgs({{"user", "q"}, {"assistant", "a"}});
  bad.push_back(Json{{"role", "user"}, {"content", 3}});
  EXPECT_EQ(ValidateMessages(bad).message(), "messages[2] must be an object with string \"role\" and \"content\"");
  // The same checks on nlohmann::json (the coordinator's problem files).
  EXPECT_EQ(ValidateMessages(nlohmann::json::parse(R"([{"role": "user"}])")).message(),
            "messages[0] must be an object with string \"role\" and \"content\"");
}

TEST(ChatRecordTest, TrainableNeedsAnAssistantTurnAnsweredNeedsItLast) {
  EXPECT_TRUE(ValidateTrainable(Msgs({{"system", "s"}, {"assistant", "a"}, {"user", "u"}})).ok());
  EXPECT_EQ(ValidateTrainable(Msgs({{"user", "q"}})).message(),
            "\"messages\" has no assistant turn, so there is nothing to train on");
  EXPECT_TRUE(ValidateAnswered(Msgs({{"user", "q"}, {"assistant", "a"}})).ok());
  EXPECT_FALSE(ValidateAnswered(Msgs({{"assistant", "a"}})).ok()) << "an answer needs a prompt before it";
  EXPECT_FALSE(ValidateAnswered(Msgs({{"assistant", "a"}, {"user", "q"}})).ok()) << "the answer comes last";
}

TEST(ChatRecordTest, BothLineShapesParseToTheSameMessages) {
  auto chat = ParseChatRecord(
      R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "extra": 1})");
  auto pair = ParseChatRecord(R"({"prompt": "q", "response": "a"})");
  auto completion = ParseChatRecord(R"({"prompt": "q", "completion": "a"})");
  ASSERT_TRUE(chat.ok() && pair.ok() && completion.ok());
  EXPECT_EQ(*chat, Msgs({{"user", "q"}, {"assistant", "a"}}));
  EXPECT_EQ(*pair, *chat);
  EXPECT_EQ(*completion, *chat);
}

TEST(ChatRecordTest, BadLinesSayWhatIsWrong) {
  EXPECT_EQ(ParseChatRecord("{\"messages\": [").status().message().substr(0, 22), "not valid JSON at byte");
  EXPECT_EQ(ParseChatRecord("[1]").status().message(), "expected a JSON object, got an array");
  EXPECT_EQ(ParseChatRecord(R"({"text": "x"})").status().message(),
            "expected a \"messages\" list or \"prompt\"/\"response\" fields");
  EXPECT_EQ(ParseChatRecord(R"({"prompt": "q", "response": 3})").status().message(),
            "a prompt/response pair needs string \"prompt\" and \"response\" fields");
  EXPECT_EQ(ParseChatRecord(R"({"messages": [{"role": "user"}]})").status().message(),
            "messages[0] must be an object with string \"role\" and \"content\"");
}

TEST(ChatRecordTest, ALineRoundTripsAndInvalidUtf8BecomesTheReplacementCharacter) {
  const Json m = Msgs({{"user", "q\n\"quoted\""}, {"assistant", "def f():\n    return 1"}});
  EXPECT_EQ(*ParseChatRecord(ChatRecordLine(m)), m);
  EXPECT_EQ(ChatRecordLine(m).find('\n'), std::string::npos) << "one line";
  const Json bytes = Msgs({{"user", "q"}, {"assistant", "ok\xff"}});
  EXPECT_EQ(ParseChatRecord(ChatRecordLine(bytes))->back()["content"], "ok\xef\xbf\xbd");
}

TEST(ChatRecordTest, ASampleTrainsAsItsProblemsMessagesOrItsRawPromptThenTheAnswer) {
  auto from_messages =
      SampleConversation(R"([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}])", "", "a");
  ASSERT_TRUE(from_messages.ok());
  EXPECT_EQ(*from_messages, Msgs({{"system", "s"}, {"user", "q"}, {"assistant", "a"}}));
  auto from_raw = SampleConversation("", "def f(", "x):");
  ASSERT_TRUE(from_raw.ok());
  EXPECT_EQ(*from_raw, Msgs({{"user", "def f("}, {"assistant", "x):"}}));
  EXPECT_EQ(*SampleConversationLine("", "p", "a"), ChatRecordLine(*SampleConversation("", "p", "a")));
  auto broken = SampleConversation("{\"role\"", "", "a");
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(SampleConversation("[{\"role\": 1}]", "", "a").status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ssd
