// pass@k against its closed form, bootstrap interval coverage in
// simulation, the report, and temperature selection on a held-out split.
#include "common/eval/metrics.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace ssd {
namespace {

double Binomial(int n, int k) {
  if (k < 0 || k > n) return 0;
  double r = 1;
  for (int i = 1; i <= k; ++i) r = r * (n - k + i) / i;
  return r;
}

TEST(PassAtKTest, MatchesTheClosedFormOnHandComputedCases) {
  EXPECT_DOUBLE_EQ(PassAtK(5, 2, 1), 0.4);                // c / n
  EXPECT_DOUBLE_EQ(PassAtK(5, 2, 2), 1 - 3.0 / 10);       // 1 - C(3,2)/C(5,2)
  EXPECT_NEAR(PassAtK(10, 3, 5), 1 - 21.0 / 252, 1e-12);  // 1 - C(7,5)/C(10,5)
  EXPECT_NEAR(PassAtK(200, 1, 100), 0.5, 1e-12);          // C(199,100)/C(200,100) = 1/2
  EXPECT_DOUBLE_EQ(PassAtK(10, 0, 5), 0);
  EXPECT_DOUBLE_EQ(PassAtK(10, 6, 5), 1);  // n - c < k: some draw must pass
  EXPECT_DOUBLE_EQ(PassAtK(1, 1, 1), 1);
  for (int n : {5, 10, 20}) {
    for (int c = 0; c <= n; ++c) {
      for (int k : {1, 5, 10}) {
        if (k > n) continue;
        EXPECT_NEAR(PassAtK(n, c, k), 1 - Binomial(n - c, k) / Binomial(n, k), 1e-9) << n << " " << c << " " << k;
      }
    }
  }
}

TEST(BootstrapTest, TheIntervalCoversTheTrueValueInSimulation) {
  // Each simulated benchmark draws 100 problems with solve rates uniform on
  // [0, 1] (true mean pass@1 = 0.5) and 10 samples each.
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> rate(0, 1);
  BootstrapOptions o;
  o.resamples = 500;
  int covered = 0;
  const int sims = 300;
  double width = 0;
  for (int s = 0; s < sims; ++s) {
    std::vector<ProblemOutcome> outcomes;
    for (int i = 0; i < 100; ++i) {
      std::binomial_distribution<int> passes(10, rate(rng));
      outcomes.push_back({absl::StrCat("p", i), "", 10, passes(rng)});
    }
    o.seed = static_cast<uint64_t>(s);
    const Estimate e = ComputePassAtK(outcomes, {1}, o).overall.pass_at_k.at(1);
    covered += e.ci_low <= 0.5 && 0.5 <= e.ci_high;
    width += e.ci_high - e.ci_low;
  }
  const double coverage = static_cast<double>(covered) / sims;
  EXPECT_GE(coverage, 0.90);
  EXPECT_LE(coverage, 0.99);
  // About 2 x 1.96 x sqrt(var / 100), var ~ 1/12 + binomial noise.
  EXPECT_GT(width / sims, 0.08);
  EXPECT_LT(width / sims, 0.16);
}

TEST(BootstrapTest, IsDeterministicForASeed) {
  const std::vector<double> v = {0, 1, 1, 0, 0.5, 0.25, 1};
  BootstrapOptions o;
  const Estimate a = BootstrapMean(v, o), b = BootstrapMean(v, o);
  EXPECT_EQ(a.ci_low, b.ci_low);
  EXPECT_EQ(a.ci_high, b.ci_high);
  EXPECT_NEAR(a.value, 3.75 / 7, 1e-12);
  EXPECT_LT(a.ci_low, a.value);
  EXPECT_GT(a.ci_high, a.value);
}

TEST(PassAtKReportTest, CapsKByTheSmallestSampleCountAndSplitsByDifficulty) {
  const std::vector<ProblemOutcome> outcomes = {
      {"a", "easy", 5, 5}, {"b", "easy", 5, 0}, {"c", "hard", 5, 1}, {"d", "", 5, 2}};
  const PassAtKReport r = ComputePassAtK(outcomes);
  EXPECT_EQ(r.overall.num_problems, 4);
  ASSERT_EQ(r.overall.pass_at_k.size(), 2u);  // pass@1 and pass@5; no pass@10 from 5 samples
  EXPECT_NEAR(r.overall.pass_at_k.at(1).value, (1 + 0 + 0.2 + 0.4) / 4, 1e-12);
  EXPECT_NEAR(r.overall.pass_at_k.at(5).value, (1 + 0 + 1 + 1) / 4.0, 1e-12);
  ASSERT_EQ(r.by_difficulty.size(), 3u);
  EXPECT_EQ(r.by_difficulty[0].name, "easy");
  EXPECT_NEAR(r.by_difficulty[0].pass_at_k.at(1).value, 0.5, 1e-12);
  EXPECT_EQ(r.by_difficulty[1].name, "hard");
  EXPECT_EQ(r.by_difficulty[2].name, "unknown");
  const nlohmann::json j = PassAtKReportToJson(r);
  EXPECT_NEAR(j["overall"]["pass_at_k"]["pass@1"]["value"].get<double>(), 0.4, 1e-12);
  EXPECT_EQ(j["by_difficulty"]["easy"]["problems"], 2);
  const std::string table = FormatPassAtKTable(r);
  EXPECT_NE(table.find("| overall | 4 | 40.0% ["), std::string::npos) << table;
}

TEST(HeldOutSplitTest, IsDeterministicOrderFreeAndNearTheFraction) {
  HeldOutSplit split;
  split.held_out_fraction = 0.3;
  int held = 0;
  for (int i = 0; i < 4000; ++i) {
    const std::string id = absl::StrCat("question_", i);
    held += split.IsHeldOut(id);
    EXPECT_EQ(split.IsHeldOut(id), HeldOutSplit{split}.IsHeldOut(id));
  }
  EXPECT_NEAR(held / 4000.0, 0.3, 0.03);
  HeldOutSplit other = split;
  other.seed = 1;
  int differ = 0;
  for (int i = 0; i < 1000; ++i)
    differ += split.IsHeldOut(absl::StrCat("q", i)) != other.IsHeldOut(absl::StrCat("q", i));
  EXPECT_GT(differ, 100);  // the seed reshuffles
}

// Outcomes where `tune_rate` of samples pass on tuning problems and
// `held_rate` on held-out ones (out of 10).
TemperatureResults Candidate(double t, const HeldOutSplit& split, int tune_c, int held_c) {
  TemperatureResults r;
  r.temperature = t;
  for (int i = 0; i < 200; ++i) {
    const std::string id = absl::StrCat("q", i);
    r.outcomes.push_back({id, "", 10, split.IsHeldOut(id) ? held_c : tune_c});
  }
  return r;
}

TEST(TemperatureSelectionTest, ChoosesOnTheTuningSideAndReportsTheHeldOutSide) {
  HeldOutSplit split;
  // 0.6 is best where it is chosen; 1.0 would look best on held-out problems,
  // which must not influence the choice.
  const std::vector<TemperatureResults> candidates = {Candidate(0.2, split, 4, 4), Candidate(0.6, split, 7, 3),
                                                      Candidate(1.0, split, 5, 9)};
  auto sel = SelectBestTemperature(candidates, split);
  ASSERT_TRUE(sel.ok()) << sel.status();
  EXPECT_EQ(sel->temperature, 0.6);
  ASSERT_EQ(sel->tune_pass_at_1.size(), 3u);
  EXPECT_NEAR(sel->tune_pass_at_1[1].second, 0.7, 1e-12);
  EXPECT_NEAR(sel->held_out_pass_at_1.value, 0.3, 1e-12);
  EXPECT_GT(sel->tune_problems, 50);
  EXPECT_GT(sel->held_out_problems, 50);
  EXPECT_EQ(sel->tune_problems + sel->held_out_problems, 200);
}

TEST(TemperatureSelectionTest, TiesGoToTheLowerTemperature) {
  HeldOutSplit split;
  auto sel = SelectBestTemperature({Candidate(1.0, split, 5, 5), Candidate(0.7, split, 5, 5)}, split);
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(sel->temperature, 0.7);
}

TEST(TemperatureSelectionTest, ChoosesAmongSettingsThatShareATemperatureAndKeepsTheHeldOutOutcomes) {
  HeldOutSplit split;
  TemperatureResults plain = Candidate(1.0, split, 3, 3);
  TemperatureResults cut = Candidate(1.0, split, 8, 6);
  cut.setting = "top_k 20, top_p 0.8";
  TemperatureResults tie = Candidate(1.0, split, 8, 1);
  tie.setting = "top_k 10";
  auto sel = SelectBestTemperature({plain, cut, tie}, split);
  ASSERT_TRUE(sel.ok()) << sel.status();
  EXPECT_EQ(sel->index, 1);  // the tie with candidate 2 goes to the earlier one
  EXPECT_NEAR(sel->held_out_pass_at_1.value, 0.6, 1e-12);
  ASSERT_EQ(static_cast<int>(sel->held_out.size()), sel->held_out_problems);
  for (const ProblemOutcome& o : sel->held_out) EXPECT_TRUE(split.IsHeldOut(o.question_id)) << o.question_id;
  auto dup = SelectBestTemperature({cut, cut}, split);
  EXPECT_NE(dup.status().message().find("temperature 1 (top_k 20, top_p 0.8) appears twice"), std::string::npos)
      << dup.status();
}

TEST(TemperatureSelectionTest, RejectsBadCandidatesByName) {
  HeldOutSplit split;
  auto dup = SelectBestTemperature({Candidate(0.6, split, 1, 1), Candidate(0.6, split, 2, 2)}, split);
  EXPECT_NE(dup.status().message().find("temperature 0.6 appears twice"), std::string::npos) << dup.status();
  TemperatureResults one;
  one.temperature = 0.8;
  one.outcomes = {{"only", "", 10, 3}};
  auto lopsided = SelectBestTemperature({one}, split);
  EXPECT_NE(lopsided.status().message().find("temperature 0.8"), std::string::npos) << lopsided.status();
  EXPECT_FALSE(SelectBestTemperature({}, split).ok());
  split.held_out_fraction = 1.5;
  EXPECT_NE(split.Validate().message().find("held_out_fraction"), std::string::npos);
}

}  // namespace
}  // namespace ssd
