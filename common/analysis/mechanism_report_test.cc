#include "common/analysis/mechanism_report.h"

#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/tokenizer/utf8.h"

namespace ssd {
namespace {

NextTokenStats Stats(double top1_share, double tail, double head_entropy, int64_t argmax = 0) {
  NextTokenStats s;
  s.top1_share = top1_share;
  s.tail_mass = tail;
  s.head_entropy = head_entropy;
  s.entropy = head_entropy + tail;
  s.token_prob = top1_share;
  s.argmax = argmax;
  return s;
}

// Two solutions: three locks whose tail falls (or not), two forks.
MechanismReport TwoSolutions() {
  MechanismReport r;
  r.options.top_k = 20;
  r.options.lock_share = 0.9;
  r.options.params.temperature = 1.5;
  r.base_dir = "/m/base";
  r.tuned_dir = "/m/<tuned>";
  ScoredSolution a;
  a.question_id = "q<1>";
  a.prompt_ids = {1, 2};
  a.completion_ids = {5, 6, 7};
  a.base = {Stats(0.95, 0.04, 0.1), Stats(0.5, 0.01, 0.7), Stats(0.99, 0.02, 0.05)};
  a.tuned = {Stats(0.99, 0.001, 0.02), Stats(0.55, 0.005, 0.65, 3), Stats(0.99, 0.03, 0.05)};
  ScoredSolution b;
  b.question_id = "q2";
  b.prompt_ids = {1};
  b.completion_ids = {8, 9};
  b.base = {Stats(0.92, 0.06, 0.2), Stats(0.6, 0.0, 0.6)};
  b.tuned = {Stats(0.98, 0.0, 0.05, 1), Stats(0.7, 0.0, 0.5)};
  r.solutions = {a, b};
  SummarizeMechanism(r);
  return r;
}

TEST(MechanismSummaryTest, PositionsAreSplitByTheBasesTopShareAndAveragedPerGroup) {
  const MechanismReport r = TwoSolutions();
  EXPECT_EQ(r.lock.positions, 3);
  EXPECT_EQ(r.fork.positions, 2);
  EXPECT_EQ(r.all.positions, 5);
  EXPECT_NEAR(r.lock.base.tail_mass, (0.04 + 0.02 + 0.06) / 3, 1e-12);
  EXPECT_NEAR(r.lock.tuned.tail_mass, (0.001 + 0.03 + 0.0) / 3, 1e-12);
  EXPECT_NEAR(r.lock.base.median_tail_mass, 0.04, 1e-12);
  EXPECT_NEAR(r.lock.share_tail_fell, 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.lock.share_argmax_changed, 1.0 / 3, 1e-12);
  EXPECT_NEAR(r.fork.base.head_entropy, 0.65, 1e-12);
  EXPECT_NEAR(r.fork.tuned.head_entropy, 0.575, 1e-12);
  EXPECT_NEAR(r.fork.base.median_tail_mass, 0.005, 1e-12)
      << "the median of an even count is the mean of the middle two";
  EXPECT_NEAR(r.fork.share_tail_fell, 0.5, 1e-12) << "an equal tail did not fall";
  EXPECT_NEAR(r.fork.share_argmax_changed, 0.5, 1e-12);
}

TEST(MechanismSummaryTest, OptionsAreValidatedByName) {
  MechanismOptions o;
  EXPECT_TRUE(o.Validate(100).ok());
  o.top_k = 101;
  EXPECT_NE(o.Validate(100).message().find("top_k"), std::string::npos);
  o = MechanismOptions{};
  o.lock_share = 0;
  EXPECT_NE(o.Validate(100).message().find("lock_share"), std::string::npos);
  o.lock_share = 1.5;
  EXPECT_NE(o.Validate(100).message().find("lock_share"), std::string::npos);
  o = MechanismOptions{};
  o.max_problems = -1;
  EXPECT_NE(o.Validate(100).message().find("max_problems"), std::string::npos);
  o = MechanismOptions{};
  o.params.top_p = 2;
  EXPECT_FALSE(o.Validate(100).ok());
}

TEST(MechanismReportTest, HistogramsBinEveryValueAndClampTheEnds) {
  const Histogram h = MakeHistogram({-1, 0, 0.49, 0.5, 0.99, 1, 7}, 0, 1, 2);
  ASSERT_EQ(h.counts.size(), 2u);
  EXPECT_EQ(h.counts[0], 3);
  EXPECT_EQ(h.counts[1], 4);
  const MechanismHistograms mh = ComputeMechanismHistograms(TwoSolutions());
  int64_t locks = 0, forks = 0;
  for (int64_t c : mh.lock_log10_tail_tuned.counts) locks += c;
  for (int64_t c : mh.fork_head_entropy_base.counts) forks += c;
  EXPECT_EQ(locks, 3);
  EXPECT_EQ(forks, 2);
  EXPECT_EQ(mh.lock_log10_tail_tuned.counts.front(), 1) << "a zero tail lands in the first (1e-8) bin";
}

TEST(MechanismReportTest, TheTextSummaryHasATableRowPerGroupAndTheVerdicts) {
  const std::string text = FormatMechanismSummary(TwoSolutions());
  EXPECT_NE(text.find("2 solutions, 5 positions"), std::string::npos) << text;
  EXPECT_NE(text.find("lock "), std::string::npos) << text;
  EXPECT_NE(text.find("fork "), std::string::npos) << text;
  EXPECT_NE(text.find("4.00% -> 1.03%"), std::string::npos) << text;
  EXPECT_NE(text.find("At locks the tail mass went from 4.00% to 1.03%"), std::string::npos) << text;
  EXPECT_NE(text.find("At forks the head entropy went from 0.650 to 0.575"), std::string::npos) << text;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    EXPECT_FALSE(!line.empty() && line.back() == ' ') << "trailing blanks: [" << line << "]";
  }
}

TEST(MechanismReportTest, JsonAndPositionsCarryEveryNumber) {
  const MechanismReport r = TwoSolutions();
  const nlohmann::json j = MechanismReportToJson(r);
  EXPECT_EQ(j["lock"]["positions"], 3);
  EXPECT_EQ(j["solutions"], 2);
  EXPECT_EQ(j["sampling"]["temperature"], 1.5);
  EXPECT_EQ(j["histograms"]["lock_log10_tail_base"]["counts"].size(), 16u);
  std::istringstream lines(MechanismPositionsJsonl(r));
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["question_id"], "q<1>");
  EXPECT_EQ(rows[0]["completion_ids"].size(), 3u);
  EXPECT_EQ(rows[0]["tuned"]["tail_mass"][0], 0.001);
  EXPECT_EQ(rows[0]["tuned"]["argmax"][1], 3);
  EXPECT_EQ(rows[1]["base"]["head_entropy"].size(), 2u);
}

TEST(MechanismReportTest, TheHtmlIsSelfContainedAndEscapesWhatTheModelWrote) {
  const std::string html = MechanismReportHtml(TwoSolutions(), [](int64_t id) {
    if (id == 5) return std::string("<script>alert(1)</script>");
    if (id == 6) return std::string("\xe2\x82");  // half of a UTF-8 character
    return absl::StrCat("t", id);
  });
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(FindInvalidUtf8(html), kValidUtf8);
  EXPECT_NE(html.find("/m/&lt;tuned&gt;"), std::string::npos);
  EXPECT_NE(html.find("q&lt;1&gt;"), std::string::npos);
  // Four charts, and nothing fetched from the network.
  size_t svgs = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) ++svgs;
  EXPECT_EQ(svgs, 4u);
  std::string rest = html;
  for (size_t at = rest.find("xmlns=\"http://www.w3.org/2000/svg\""); at != std::string::npos;
       at = rest.find("xmlns=\"http://www.w3.org/2000/svg\"")) {
    rest.erase(at, 34);
  }
  EXPECT_EQ(rest.find("http"), std::string::npos);
  EXPECT_EQ(rest.find("src="), std::string::npos);
}

}  // namespace
}  // namespace ssd
