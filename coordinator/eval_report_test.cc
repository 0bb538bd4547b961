#include "coordinator/eval_report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/eval/metrics.h"

namespace ssd {
namespace {

v1::Truncation Trunc(int64_t top_k, double top_p) {
  v1::Truncation t;
  t.set_top_k(top_k);
  t.set_top_p(top_p);
  t.set_min_p(0);
  return t;
}

// 100 problems, half hard; at (temperature, truncation) every problem passes
// `c(t, k, hard)` of 4 samples.
struct Sweep {
  std::vector<EvalProblemInfo> problems;
  std::vector<v1::EvalOutcome> outcomes;
};

template <typename F>
Sweep MakeSweep(const std::vector<double>& temps, int ntrunc, F c) {
  Sweep s;
  for (int i = 0; i < 100; ++i) s.problems.push_back({absl::StrCat("p", i), i % 2 ? "hard" : "easy"});
  for (int k = 0; k < ntrunc; ++k) {
    for (double t : temps) {
      for (int i = 0; i < 100; ++i) {
        v1::EvalOutcome o;
        o.set_problem_id(s.problems[i].id);
        o.set_temperature(t);
        o.set_truncation(k);
        o.set_n(4);
        o.set_c(c(t, k, i % 2 == 1));
        s.outcomes.push_back(o);
      }
    }
  }
  return s;
}

v1::EvalSpec Spec() {
  v1::EvalSpec spec;
  spec.add_ks(1);
  spec.add_ks(4);
  spec.set_held_out_fraction(0.5);
  return spec;
}

TEST(EvalReportTest, ReportsEveryTemperatureWithEveryTruncationAndChoosesTheBestSetting) {
  const std::vector<double> temps = {0.6, 1.0};
  // Truncation 1 at T 1.0 is best: 3 of 4 on every problem; everything else 1 of 4.
  const Sweep s = MakeSweep(temps, 2, [](double t, int k, bool) { return t == 1.0 && k == 1 ? 3 : 1; });
  const v1::EvalReport r = BuildEvalReport(1, Spec(), temps, {Trunc(0, 1), Trunc(20, 0.8)}, s.problems, s.outcomes);
  ASSERT_EQ(r.temperatures_size(), 4);  // truncation-major
  EXPECT_EQ(r.temperatures(1).temperature(), 1.0);
  EXPECT_EQ(r.temperatures(1).truncation().top_k(), 0);
  EXPECT_EQ(r.temperatures(3).truncation().top_k(), 20);
  EXPECT_NEAR(r.temperatures(3).groups(0).pass_at_k(0).value(), 0.75, 1e-12);
  EXPECT_NEAR(r.temperatures(1).groups(0).pass_at_k(0).value(), 0.25, 1e-12);
  EXPECT_TRUE(r.note().empty()) << r.note();
  EXPECT_EQ(r.chosen_temperature(), 1.0);
  EXPECT_EQ(r.chosen_truncation().top_k(), 20);
  EXPECT_NEAR(r.held_out_pass_at_1().value(), 0.75, 1e-12);
  // Held-out groups: overall, then easy and hard; pass@4 is 1 where any passes.
  ASSERT_EQ(r.held_out_groups_size(), 3);
  EXPECT_EQ(r.held_out_groups(0).name(), "overall");
  EXPECT_EQ(r.held_out_groups(0).num_problems(), r.held_out_problems());
  ASSERT_EQ(r.held_out_groups(0).pass_at_k_size(), 2);
  EXPECT_NEAR(r.held_out_groups(0).pass_at_k(1).value(), 1.0, 1e-12);
  EXPECT_EQ(r.held_out_groups(2).name(), "hard");
  const std::string table = FormatEvalReport(r);
  EXPECT_NE(table.find("| 1.00 | top_k 20, top_p 0.8 | overall | 100 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| 0.60 | none | hard | 50 |"), std::string::npos) << table;
  EXPECT_NE(table.find("chosen T = 1.00, truncation top_k 20, top_p 0.8"), std::string::npos) << table;
}

TEST(EvalReportTest, OneTruncationKeepsTheTemperatureOnlyReport) {
  const std::vector<double> temps = {0, 0.6, 1.0};
  const Sweep s = MakeSweep(temps, 1, [](double t, int, bool hard) { return t == 0.6 ? (hard ? 2 : 4) : 1; });
  const v1::EvalReport r = BuildEvalReport(0, Spec(), temps, {Trunc(20, 0.95)}, s.problems, s.outcomes);
  ASSERT_EQ(r.temperatures_size(), 3);
  EXPECT_EQ(r.chosen_temperature(), 0.6);
  EXPECT_EQ(r.chosen_truncation().top_p(), 0.95);
  ASSERT_EQ(r.held_out_groups_size(), 3);
  EXPECT_NEAR(r.held_out_groups(1).pass_at_k(0).value(), 1.0, 1e-12);  // easy
  EXPECT_NEAR(r.held_out_groups(2).pass_at_k(0).value(), 0.5, 1e-12);  // hard
}

TEST(EvalReportTest, OutcomesOfAnUnknownTruncationAreLeftOutAndAMissingSettingIsNamed) {
  const std::vector<double> temps = {1.0};
  Sweep s = MakeSweep(temps, 1, [](double, int, bool) { return 2; });
  v1::EvalOutcome stray = s.outcomes.front();
  stray.set_truncation(5);
  stray.set_c(4);
  s.outcomes.push_back(stray);
  // Truncation 1 has no outcomes at all: no selection, and the note says which.
  const v1::EvalReport r = BuildEvalReport(1, Spec(), temps, {Trunc(0, 1), Trunc(20, 0.8)}, s.problems, s.outcomes);
  ASSERT_EQ(r.temperatures_size(), 2);
  EXPECT_NEAR(r.temperatures(0).groups(0).pass_at_k(0).value(), 0.5, 1e-12);
  EXPECT_EQ(r.temperatures(1).groups(0).num_problems(), 0);
  EXPECT_NE(r.note().find("temperature 1 (top_k 20, top_p 0.8)"), std::string::npos) << r.note();
  EXPECT_EQ(r.held_out_groups_size(), 0);
}

TEST(EvalReportTest, TruncationLabelsNameOnlyWhatIsOn) {
  EXPECT_EQ(TruncationLabel(Trunc(0, 1)), "none");
  EXPECT_EQ(TruncationLabel(Trunc(20, 1)), "top_k 20");
  v1::Truncation t = Trunc(0, 0.95);
  t.set_min_p(0.05);
  EXPECT_EQ(TruncationLabel(t), "top_p 0.95, min_p 0.05");
}

}  // namespace
}  // namespace ssd
