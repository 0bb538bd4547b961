// Distribution exactness of the sampler: for fixed logits, the empirical
// frequencies of >= 200,000 draws per setting must fit the analytically
// truncated and renormalised distribution (chi-square, p > 0.001), and no
// token outside the truncation set may ever appear.
#include "common/sampling/token_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/sampling/philox.h"

namespace ssd {
namespace {

// --- An independent reference: the truncation written as plainly as
// possible, over a full descending sort in double precision.
std::map<int, double> ReferenceDistribution(const std::vector<float>& raw, const SamplingParams& p,
                                            bool renormalise_before_top_p = true) {
  const int V = static_cast<int>(raw.size());
  std::vector<double> s(raw.begin(), raw.end());
  for (double& x : s) x = static_cast<float>(static_cast<float>(x) / static_cast<float>(p.temperature));
  std::vector<int> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int a, int b) { return s[a] > s[b]; });
  int k = (p.top_k > 0 && p.top_k < V) ? static_cast<int>(p.top_k) : V;
  std::vector<int> kept(idx.begin(), idx.begin() + k);
  auto softmax = [&](const std::vector<int>& ids, std::vector<double>* out) {
    double mx = -1e300, z = 0;
    for (int i : ids) mx = std::max(mx, s[i]);
    out->clear();
    for (int i : ids) out->push_back(std::exp(s[i] - mx)), z += out->back();
    for (double& x : *out) x /= z;
  };
  std::vector<double> probs;
  softmax(renormalise_before_top_p ? kept : idx, &probs);
  std::vector<int> after_p;
  double above = 0;
  for (size_t r = 0; r < kept.size(); ++r) {
    if (above < p.top_p || r == 0) after_p.push_back(kept[r]);
    above += probs[r];
  }
  softmax(after_p, &probs);
  std::vector<int> final_ids;
  for (size_t r = 0; r < after_p.size(); ++r) {
    if (probs[r] >= p.min_p * probs[0]) final_ids.push_back(after_p[r]);
  }
  softmax(final_ids, &probs);
  std::map<int, double> out;
  for (size_t r = 0; r < final_ids.size(); ++r) out[final_ids[r]] = probs[r];
  return out;
}

// Upper regularised incomplete gamma Q(a, x), for chi-square p-values:
// a power series below a + 1, a continued fraction (modified Lentz) above.
double GammaQ(double a, double x) {
  if (x <= 0) return 1.0;
  const double log_front = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1) {
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 10000 && std::fabs(term) > 1e-16 * std::fabs(sum); ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return 1.0 - sum * std::exp(log_front);
  }
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-16) break;
  }
  return std::exp(log_front) * h;
}

// Chi-square goodness of fit; bins expecting fewer than 5 draws are pooled.
double ChiSquarePValue(const std::map<int, int64_t>& counts, const std::map<int, double>& want, int64_t draws) {
  double stat = 0, pooled_expected = 0, pooled_observed = 0;
  int bins = 0;
  for (const auto& [id, p] : want) {
    const double e = p * static_cast<double>(draws);
    auto it = counts.find(id);
    const double o = it == counts.end() ? 0.0 : static_cast<double>(it->second);
    if (e < 5) {
      pooled_expected += e;
      pooled_observed += o;
      continue;
    }
    stat += (o - e) * (o - e) / e;
    ++bins;
  }
  if (pooled_expected > 0) {
    stat += (pooled_observed - pooled_expected) * (pooled_observed - pooled_expected) / pooled_expected;
    ++bins;
  }
  if (bins < 2) return 1.0;
  return GammaQ((bins - 1) / 2.0, stat / 2.0);
}

std::vector<float> FixedLogits(int V) {
  std::mt19937 gen(1234);
  std::normal_distribution<float> n(0.0f, 2.0f);
  std::vector<float> l(V);
  for (float& x : l) x = n(gen);
  return l;
}

TEST(GammaQTest, MatchesClosedFormsForChiSquare) {
  // df = 2: Q(1, x/2) = exp(-x/2).
  EXPECT_NEAR(GammaQ(1.0, 3.0), std::exp(-3.0), 1e-12);
  EXPECT_NEAR(GammaQ(1.0, 0.2), std::exp(-0.2), 1e-12);
  // df = 4: Q(2, y) = (1 + y) exp(-y).
  EXPECT_NEAR(GammaQ(2.0, 7.5), 8.5 * std::exp(-7.5), 1e-12);
  // Chi-square critical value: df = 10 at p = 0.001 is 29.588.
  EXPECT_NEAR(GammaQ(5.0, 29.588 / 2), 0.001, 2e-6);
}

TEST(PhiloxTest, MatchesRandom123KnownAnswers) {
  using A4 = std::array<uint32_t, 4>;
  EXPECT_EQ(Philox4x32({0, 0, 0, 0}, {0, 0}), (A4{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(Philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (A4{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(Philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (A4{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(PhiloxTest, UniformDependsOnEveryCoordinateAndNothingElse) {
  const uint64_t key = PromptKey("lcb/abc123");
  const double u = SampleUniform(7, key, 3, 11);
  EXPECT_EQ(u, SampleUniform(7, key, 3, 11));
  EXPECT_NE(u, SampleUniform(8, key, 3, 11));
  EXPECT_NE(u, SampleUniform(7, PromptKey("lcb/abc124"), 3, 11));
  EXPECT_NE(u, SampleUniform(7, key, 4, 11));
  EXPECT_NE(u, SampleUniform(7, key, 3, 12));
  EXPECT_GE(u, 0.0);
  EXPECT_LT(u, 1.0);
  EXPECT_EQ(PromptKey(""), 0xcbf29ce484222325ULL);  // FNV-1a offset basis
  EXPECT_EQ(PromptKey("a"), 0xaf63dc4c8601ec8cULL);
}

class DistributionTest : public ::testing::TestWithParam<std::tuple<double, int, double, double>> {};

TEST_P(DistributionTest, EmpiricalFrequenciesFitTheTruncatedSoftmax) {
  const auto [temperature, top_k, top_p, min_p] = GetParam();
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  const std::vector<float> logits = FixedLogits(64);
  const std::map<int, double> want = ReferenceDistribution(logits, p);
  TokenSampler sampler;
  std::vector<float> row;
  std::map<int, int64_t> counts;
  constexpr int64_t kDraws = 200000;
  // The draws are deterministic. Over 24 settings at p > 0.001 a correct
  // sampler fails by chance with probability ~2.4% per seed; seeds 1-8 all
  // gave uniform-looking p-values (seed 99 had one p = 1.3e-4), so this
  // fixed seed is not hiding a bias.
  constexpr uint64_t kSeed = 1;
  const uint64_t prompt = PromptKey(absl::StrCat("chi2/", temperature, "/", top_k, "/", top_p, "/", min_p));
  for (int64_t i = 0; i < kDraws; ++i) {
    row = logits;
    const SampledToken t =
        sampler.Sample(row.data(), 64, p, {}, SampleUniform(kSeed, prompt, static_cast<uint32_t>(i), 0));
    ASSERT_TRUE(want.count(static_cast<int>(t.id))) << "token " << t.id << " is outside the truncation set";
    ++counts[static_cast<int>(t.id)];
  }
  const double pvalue = ChiSquarePValue(counts, want, kDraws);
  EXPECT_GT(pvalue, 0.001) << want.size() << " kept tokens";
  // The test has power: the distribution without renormalising before
  // top-p keeps a different set here, and the fit rejects it.
  if (top_k == 20 && top_p < 1.0) {
    const auto wrong = ReferenceDistribution(logits, p, /*renormalise_before_top_p=*/false);
    if (wrong != want) {
      EXPECT_LT(ChiSquarePValue(counts, wrong, kDraws), 1e-6);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllSettings, DistributionTest,
                         ::testing::Combine(::testing::Values(0.6, 1.0, 1.5), ::testing::Values(0, 20),
                                            ::testing::Values(1.0, 0.8), ::testing::Values(0.0, 0.05)),
                         [](const auto& info) {
                           auto name = absl::StrCat("t", std::get<0>(info.param), "_k", std::get<1>(info.param), "_p",
                                                    std::get<2>(info.param), "_minp", std::get<3>(info.param));
                           std::replace(name.begin(), name.end(), '.', 'd');
                           return name;
                         });

TEST(TokenSamplerTest, TruncationKeepsExactlyTheReferenceSetOnALargeVocabulary) {
  // 150k logits exercise the heap top-k and the growing partial sort.
  std::mt19937 gen(5);
  std::normal_distribution<float> n(0.0f, 3.0f);
  std::vector<float> logits(150000);
  for (float& x : logits) x = n(gen);
  for (auto [k, top_p, min_p] : {std::tuple<int, double, double>{0, 0.95, 0.0},
                                 {20, 0.8, 0.0},
                                 {0, 1.0, 0.05},
                                 {1000, 0.9, 0.01},
                                 {0, 0.999, 0.0}}) {
    SamplingParams p;
    p.temperature = 1.5;
    p.top_k = k;
    p.top_p = top_p;
    p.min_p = min_p;
    const auto want = ReferenceDistribution(logits, p);
    std::vector<float> row = logits;
    TruncatedDistribution got;
    TokenSampler().Truncate(row.data(), static_cast<int64_t>(row.size()), p, {}, &got);
    ASSERT_EQ(got.ids.size(), want.size()) << "k " << k << " top_p " << top_p << " min_p " << min_p;
    for (size_t i = 0; i < got.ids.size(); ++i) {
      ASSERT_TRUE(want.count(got.ids[i]));
      EXPECT_NEAR(got.probs[i], want.at(got.ids[i]), 1e-9);
    }
  }
}

// The top-k set as the steps define it: divide the whole row, keep every id
// at or above the k-th largest quotient.
std::set<int32_t> WholeRowTopK(const std::vector<float>& raw, float t, int k) {
  std::vector<float> q(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) q[i] = raw[i] / t;
  std::vector<float> sorted = q;
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
  const float kth = sorted[static_cast<size_t>(k - 1)];
  std::set<int32_t> keep;
  for (size_t i = 0; i < q.size(); ++i) {
    if (q[i] >= kth) keep.insert(static_cast<int32_t>(i));
  }
  return keep;
}

// The ids Truncate keeps with temperature t and top-k k alone.
std::set<int32_t> KeptByTruncate(const std::vector<float>& row, float t, int k) {
  SamplingParams p;
  p.temperature = t;
  p.top_k = k;
  std::vector<float> scratch = row;
  TruncatedDistribution got;
  TokenSampler().Truncate(scratch.data(), static_cast<int64_t>(row.size()), p, {}, &got);
  return std::set<int32_t>(got.ids.begin(), got.ids.end());
}

TEST(TokenSamplerTest, TopKKeepsTheWholeRowsSetWhereRoundingTiesQuotientsBelowTheKth) {
  // Truncate divides only the ids near the k-th largest logit. Logits one
  // to a few ulps below the k-th can round to its quotient, which makes
  // them ties that the whole-row division keeps; plant them and check the
  // set is the same, and that the planted ties did happen.
  std::mt19937 gen(11);
  std::normal_distribution<float> n(0.0f, 3.0f);
  int ties_below = 0;
  for (float t : {3.0f, 1.5f, 0.7f, 1.1f, 7.0f}) {
    for (int k : {1, 5, 20}) {
      for (int trial = 0; trial < 20; ++trial) {
        std::vector<float> row(5000);
        for (float& x : row) x = n(gen);
        std::vector<float> sorted = row;
        std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
        float below = sorted[static_cast<size_t>(k - 1)];
        for (int j = 0; j < 6; ++j) {
          below = std::nextafter(below, -INFINITY);
          row[static_cast<size_t>(gen() % row.size())] = below;
        }
        // (A planted value may overwrite the k-th itself; the reference
        // follows whatever the row now is.)
        const std::set<int32_t> want = WholeRowTopK(row, t, k);
        ASSERT_EQ(KeptByTruncate(row, t, k), want) << "t " << t << " k " << k;
        std::vector<float> kept;
        for (int32_t id : want) kept.push_back(row[static_cast<size_t>(id)]);
        std::sort(kept.begin(), kept.end(), std::greater<float>());
        for (size_t i = static_cast<size_t>(k); i < kept.size(); ++i) ties_below += kept[i] < kept[k - 1];
      }
    }
  }
  EXPECT_GT(ties_below, 0) << "no planted logit rounded to the k-th quotient; the test proves nothing";
}

TEST(TokenSamplerTest, TopKKeepsTheWholeRowsSetForZeroSubnormalAndInfiniteLogits) {
  // Rows whose k-th logit or quotient is not a normal float take the
  // whole-row division; the set must not change either way.
  const float sub = std::numeric_limits<float>::denorm_min();
  const std::vector<std::pair<std::vector<float>, float>> rows = {
      {{0.0f, 0.0f, 0.0f, 1.0f, -1.0f, 0.0f}, 1.5f},
      {{sub, 2 * sub, 3 * sub, 0.0f, -sub, sub}, 1.5f},
      {{sub, 2 * sub, 3 * sub, 0.0f, -sub, sub}, 0.25f},
      {{1e-30f, 2e-30f, 3e-30f, 0.0f, 1e-30f, 4e-30f}, 1e10f},
      {{INFINITY, 1.0f, 2.0f, -INFINITY, 3.0f, 1.0f}, 1.5f},
      {{-INFINITY, -INFINITY, 2.0f, -INFINITY, 3.0f, 1.0f}, 1.5f},
      {{1e38f, 3e38f, 2e38f, 3e38f, 1.0f, 0.0f}, 0.5f},
  };
  for (const auto& [row, t] : rows) {
    for (int k : {1, 2, 3, 4}) {
      EXPECT_EQ(KeptByTruncate(row, t, k), WholeRowTopK(row, t, k))
          << "t " << t << " k " << k << " first logit " << row[0];
    }
  }
}

TEST(TokenSamplerTest, GreedyTakesTheArgmaxWithTheLowestIdAmongTies) {
  SamplingParams p;
  p.temperature = 0;
  std::vector<float> l = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(TokenSampler().Sample(l.data(), 4, p, {}, 0.3).id, 1);
}

TEST(TokenSamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOnce) {
  SamplingParams p;
  p.temperature = 0;
  p.repetition_penalty = 2.0;
  // Token 0 (3.0 -> 1.5) loses to token 2 (2.0, unseen); token 1 (-1 -> -2).
  std::vector<float> l = {3.0f, -1.0f, 2.0f};
  EXPECT_EQ(TokenSampler().Sample(l.data(), 3, p, {0, 0, 0, 1}, 0.0).id, 2);
  EXPECT_FLOAT_EQ(l[0], 1.5f);  // once, although seen three times
  EXPECT_FLOAT_EQ(l[1], -2.0f);
}

TEST(TokenSamplerTest, TopKKeepsTiesAtTheKthValue) {
  SamplingParams p;
  p.temperature = 1.0;
  p.top_k = 2;
  std::vector<float> l = {1.0f, 3.0f, 1.0f, 0.0f};
  TruncatedDistribution d;
  TokenSampler().Truncate(l.data(), 4, p, {}, &d);
  EXPECT_EQ(d.ids, (std::vector<int32_t>{1, 0, 2}));
}

TEST(TokenSamplerTest, DrawnLogprobIsUnderTheTruncatedDistribution) {
  SamplingParams p;
  p.temperature = 1.0;
  p.top_k = 2;
  std::vector<float> l = {0.0f, std::log(3.0f), -5.0f};
  const SampledToken t = TokenSampler().Sample(l.data(), 3, p, {}, 0.1);
  EXPECT_EQ(t.id, 1);
  EXPECT_NEAR(t.logprob, std::log(0.75), 1e-6);
}

}  // namespace
}  // namespace ssd
