#include "common/util/json.h"

#include <gtest/gtest.h>

namespace ssd {
namespace {

TEST(JsonTest, ASyntaxErrorNamesTheByteOffsetAndTheParsersReason) {
  absl::StatusOr<nlohmann::ordered_json> j = ParseJson(R"({"a": 1, "b": x})");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(j.status().message().substr(0, 27), "not valid JSON at byte 14: ") << j.status();
  EXPECT_NE(j.status().message().find("syntax error"), absl::string_view::npos) << j.status();
  EXPECT_EQ(j.status().message().find("json.exception"), absl::string_view::npos)
      << "the library's exception id is noise for a user: " << j.status();
}

TEST(JsonTest, TruncatedInputIsAnErrorAtItsEnd) {
  absl::StatusOr<nlohmann::json> j = ParseJson<nlohmann::json>(R"({"a": [1, 2)");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("at byte 11"), absl::string_view::npos) << j.status();
}

TEST(JsonTest, ANumberOutOfRangeIsAnErrorNotAnException) {
  absl::StatusOr<nlohmann::ordered_json> j = ParseJson("[1e999]");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message().substr(0, 16), "not valid JSON: ") << j.status();
  EXPECT_NE(j.status().message().find("1e999"), absl::string_view::npos) << j.status();
}

TEST(JsonTest, ABaseOffsetShiftsTheReportedByte) {
  absl::StatusOr<nlohmann::json> j = ParseJson<nlohmann::json>("{x}", 8);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message().substr(0, 26), "not valid JSON at byte 9: ") << j.status();
}

TEST(JsonTest, AnObjectIsRequiredWhereOneIsExpected) {
  EXPECT_TRUE(ParseJsonObject(R"({"k": "v"})").ok());
  absl::StatusOr<nlohmann::ordered_json> j = ParseJsonObject("[1, 2]");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message(), "expected a JSON object, got an array");
  EXPECT_EQ(ParseJsonObject("\"s\"").status().message(), "expected a JSON object, got a string");
}

TEST(JsonTest, KeysKeepTheirOrderAndInvalidUtf8IsReplacedWhenDumped) {
  absl::StatusOr<nlohmann::ordered_json> j = ParseJson(R"({"z": 1, "a": 2})");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(DumpJsonLine(*j), R"({"z":1,"a":2})");
  nlohmann::ordered_json bad = {{"text", std::string("ok\xff")}};
  EXPECT_EQ(DumpJsonLine(bad), "{\"text\":\"ok\xef\xbf\xbd\"}");
}

}  // namespace
}  // namespace ssd
