// The global filter against a brute-force reference: sort everything, drop
// the first floor(N p / 100) by (length, key).
#include "common/filter/sample_filter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace ssd {
namespace {

std::set<std::string> Reference(const v1::FilterSpec& spec, const std::vector<FilterCandidate>& all) {
  std::vector<std::pair<int64_t, std::string>> kept;
  for (const FilterCandidate& c : all) {
    if (spec.drop_empty() && c.features.empty) continue;
    if (spec.drop_single_line() && c.features.single_line) continue;
    kept.emplace_back(spec.length_unit() == v1::LENGTH_UNIT_TOKENS ? c.features.tokens : c.features.chars, c.key);
  }
  std::sort(kept.begin(), kept.end());
  const size_t drop = static_cast<size_t>(kept.size() * spec.drop_shortest_percent() / 100.0);
  std::set<std::string> out;
  for (size_t i = drop; i < kept.size(); ++i) out.insert(kept[i].second);
  return out;
}

TEST(SampleFeaturesTest, CountsCodePointsAndRecognisesEmptyAndSingleLineTexts) {
  const SampleFeatures f = ComputeFeatures("h\xc3\xa9llo \xe2\x82\xac\nx", 7);
  EXPECT_EQ(f.chars, 9);
  EXPECT_EQ(f.bytes, 12);
  EXPECT_EQ(f.tokens, 7);
  EXPECT_FALSE(f.empty);
  EXPECT_FALSE(f.single_line);
  EXPECT_TRUE(ComputeFeatures(" \n\t ", 0).empty);
  EXPECT_TRUE(ComputeFeatures("\n  return 1  \n\n", 0).single_line);
  EXPECT_FALSE(ComputeFeatures("\n  return 1  \n\n", 0).empty);
}

class FilterTest : public testing::TestWithParam<std::tuple<bool, bool, double, bool>> {};

TEST_P(FilterTest, SurvivorsAreExactlyThoseTheGlobalRuleKeeps) {
  const auto [drop_empty, drop_single, percent, tokens] = GetParam();
  v1::FilterSpec spec;
  spec.set_drop_empty(drop_empty);
  spec.set_drop_single_line(drop_single);
  spec.set_drop_shortest_percent(percent);
  spec.set_length_unit(tokens ? v1::LENGTH_UNIT_TOKENS : v1::LENGTH_UNIT_CHARS);
  std::mt19937 rng(7);
  std::vector<FilterCandidate> all;
  for (int i = 0; i < 997; ++i) {
    FilterCandidate c;
    char key[16];
    snprintf(key, sizeof(key), "k%05d", static_cast<int>(rng() % 100000));
    c.key = std::string(key) + std::to_string(i);
    // Few distinct lengths, so ties at the cut are the norm.
    std::string text;
    const int kind = static_cast<int>(rng() % 10);
    if (kind == 0) {
      text = "   ";
    } else if (kind == 1) {
      text = "pass";
    } else {
      for (int l = 0; l < 1 + static_cast<int>(rng() % 4); ++l) text += std::string(rng() % 5, 'x') + "y\n";
    }
    c.features = ComputeFeatures(text, static_cast<int64_t>(rng() % 7));
    all.push_back(c);
  }
  std::shuffle(all.begin(), all.end(), rng);
  const v1::FilterResult r = ComputeFilter(spec, all);
  const std::set<std::string> want = Reference(spec, all);
  std::set<std::string> got;
  for (const FilterCandidate& c : all) {
    if (Survives(spec, r, c.key, c.features)) got.insert(c.key);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(r.survivors(), static_cast<int64_t>(want.size()));
  EXPECT_EQ(r.total(), 997);
  EXPECT_EQ(r.total(), r.survivors() + r.dropped_empty() + r.dropped_single_line() + r.dropped_short());
}

INSTANTIATE_TEST_SUITE_P(Rules, FilterTest,
                         testing::Combine(testing::Bool(), testing::Bool(), testing::Values(0.0, 10.0, 37.5, 99.0),
                                          testing::Bool()));

TEST(FilterTest, HistogramCountsTheLengthsTheCutActsOnInAtMost40Buckets) {
  v1::FilterSpec spec = DefaultFilterSpec();
  std::vector<FilterCandidate> all;
  for (int i = 0; i < 1000; ++i) {
    FilterCandidate c;
    c.key = "k" + std::to_string(i);
    c.features = ComputeFeatures(std::string(static_cast<size_t>(5 + i % 397), 'x') + "\ny", 1);
    all.push_back(c);
  }
  FilterCandidate empty;
  empty.key = "empty";
  empty.features = ComputeFeatures("  ", 0);  // dropped by rule 1: not in the histogram
  all.push_back(empty);
  const v1::FilterResult r = ComputeFilter(spec, all);
  EXPECT_EQ(r.histogram_min(), 7);  // 5 x's, a newline and a y
  ASSERT_GT(r.histogram_counts_size(), 0);
  EXPECT_LE(r.histogram_counts_size(), 40);
  int64_t sum = 0;
  for (int64_t c : r.histogram_counts()) sum += c;
  EXPECT_EQ(sum, 1000);
  // The longest sample (7 + 396) falls in the last bucket.
  EXPECT_LE(r.histogram_min() + (r.histogram_counts_size() - 1) * r.histogram_width(), 403);
  EXPECT_GT(r.histogram_min() + r.histogram_counts_size() * r.histogram_width(), 403);
  EXPECT_EQ(ComputeFilter(spec, {empty}).histogram_counts_size(), 0);
}

TEST(FilterTest, ArrivalOrderDoesNotChangeTheResult) {
  v1::FilterSpec spec;
  spec.set_drop_shortest_percent(50);
  spec.set_length_unit(v1::LENGTH_UNIT_CHARS);
  std::vector<FilterCandidate> a;
  for (int i = 0; i < 10; ++i) a.push_back({"key" + std::to_string(i), ComputeFeatures("same length", 1)});
  std::vector<FilterCandidate> b(a.rbegin(), a.rend());
  const v1::FilterResult ra = ComputeFilter(spec, a);
  const v1::FilterResult rb = ComputeFilter(spec, b);
  EXPECT_EQ(ra.SerializeAsString(), rb.SerializeAsString());
  EXPECT_EQ(ra.survivors(), 5);
  EXPECT_EQ(ra.cut_key(), "key5");
}

}  // namespace
}  // namespace ssd
