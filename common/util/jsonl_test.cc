#include "common/util/jsonl.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

// Accepts lines that start with '{'; records (number, text) of each.
struct Recorder {
  std::vector<std::pair<int64_t, std::string>> seen;
  JsonlVisitor Visitor() {
    return [this](const JsonlLine& l) -> absl::Status {
      if (l.text.empty() || l.text[0] != '{') return absl::InvalidArgumentError("not an object");
      seen.emplace_back(l.number, std::string(l.text));
      return absl::OkStatus();
    };
  }
};

TEST(JsonlTest, LinesAreNumberedFromOneCountingBlankLinesWhichAreSkipped) {
  Recorder r;
  auto stats = ReadJsonlBytes("x.jsonl", "{1}\n\n  \r\n{2}\r\n{3}", JsonlOptions(), r.Visitor());
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(r.seen.size(), 3u);
  EXPECT_EQ(r.seen[0], std::make_pair(int64_t{1}, std::string("{1}")));
  EXPECT_EQ(r.seen[1], std::make_pair(int64_t{4}, std::string("{2}\r")));
  EXPECT_EQ(r.seen[2], std::make_pair(int64_t{5}, std::string("{3}"))) << "a last line without a newline counts";
  EXPECT_EQ(stats->lines, 3);
  EXPECT_EQ(stats->bad_lines, 0);
}

TEST(JsonlTest, CollectKeepsEveryBadLineAsSourceColonLineColonWhat) {
  Recorder r;
  auto stats = ReadJsonlBytes("p.jsonl", "{ok}\nbad\n{ok}\nworse\n", JsonlOptions(), r.Visitor());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(r.seen.size(), 2u);
  EXPECT_EQ(stats->bad_lines, 2);
  ASSERT_EQ(stats->errors.size(), 2u);
  EXPECT_EQ(stats->errors[0], "p.jsonl:2: not an object");
  EXPECT_EQ(stats->errors[1], "p.jsonl:4: not an object");
  absl::Status refused = RefuseBadLines("p.jsonl", *stats, 1);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.message(), "p.jsonl: 2 bad line(s), the first 1:\np.jsonl:2: not an object");
}

TEST(JsonlTest, FailStopsAtTheFirstBadLine) {
  Recorder r;
  JsonlOptions o;
  o.on_bad_line = BadLinePolicy::kFail;
  auto stats = ReadJsonlBytes("f.jsonl", "{ok}\nbad\n{never}\n", o, r.Visitor());
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().message(), "f.jsonl:2: not an object");
  EXPECT_EQ(r.seen.size(), 1u);
}

TEST(JsonlTest, SkipCountsEveryBadLineButKeepsOnlyTheFirstHundred) {
  std::string bytes;
  for (int i = 0; i < 150; ++i) absl::StrAppend(&bytes, "bad\n{ok}\n");
  Recorder r;
  JsonlOptions o;
  o.on_bad_line = BadLinePolicy::kSkip;
  auto stats = ReadJsonlBytes("s.jsonl", bytes, o, r.Visitor());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->bad_lines, 150);
  EXPECT_EQ(stats->errors.size(), JsonlStats::kMaxKeptErrors);
  EXPECT_EQ(r.seen.size(), 150u);
}

TEST(JsonlTest, AnErrorThatIsNotABadLineStopsTheReadWhateverThePolicy) {
  JsonlOptions o;
  o.on_bad_line = BadLinePolicy::kSkip;
  int calls = 0;
  auto stats = ReadJsonlBytes("l.jsonl", "{a}\n{b}\n{c}\n", o, [&](const JsonlLine& l) -> absl::Status {
    if (++calls == 2) return absl::OutOfRangeError("more problems than the limit");
    return absl::OkStatus();
  });
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(stats.status().message(), "l.jsonl:2: more problems than the limit");
  EXPECT_EQ(calls, 2);
}

TEST(JsonlTest, ALineOverTheLimitIsABadLineAndTheNextLineIsStillRead) {
  JsonlOptions o;
  o.max_line_bytes = 8;
  Recorder r;
  auto stats = ReadJsonlBytes("b.jsonl", "{short}\n{much too long}\n{ok}\n", o, r.Visitor());
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->errors.size(), 1u);
  EXPECT_EQ(stats->errors[0], "b.jsonl:2: a line of 15 bytes is over the limit of 8 bytes");
  EXPECT_EQ(r.seen.size(), 2u);
}

TEST(JsonlTest, AFileReadsExactlyLikeItsBytesAcrossBlockBoundariesAndLongLines) {
  ScopedTempDir dir("ssd_jsonl_test");
  // Lines that straddle the reader's 1 MiB blocks, one over the limit.
  std::string bytes;
  for (int i = 0; i < 40; ++i) absl::StrAppend(&bytes, "{", std::string(100000 + 977 * i, 'x'), "}\n\n");
  absl::StrAppend(&bytes, "{", std::string(3 << 20, 'y'), "}\nnot json\n{tail}");
  const std::string path = dir.Join("big.jsonl");
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  JsonlOptions o;
  o.max_line_bytes = 2 << 20;
  Recorder from_file, from_bytes;
  auto a = ReadJsonlFile(path, o, from_file.Visitor());
  auto b = ReadJsonlBytes(path, bytes, o, from_bytes.Visitor());
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(from_file.seen, from_bytes.seen);
  EXPECT_EQ(a->errors, b->errors);
  EXPECT_EQ(a->lines, 43);
  ASSERT_EQ(a->errors.size(), 2u);
  EXPECT_EQ(a->errors[0],
            absl::StrCat(path, ":81: a line of ", (3 << 20) + 2, " bytes is over the limit of ", 2 << 20, " bytes"));
  EXPECT_EQ(a->errors[1], absl::StrCat(path, ":82: not an object"));
}

TEST(JsonlTest, AMissingFileIsNotFoundNamingThePath) {
  auto stats = ReadJsonlFile("/nonexistent/x.jsonl", JsonlOptions(), [](const JsonlLine&) { return absl::OkStatus(); });
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(stats.status().message().find("/nonexistent/x.jsonl"), absl::string_view::npos);
}

}  // namespace
}  // namespace ssd
