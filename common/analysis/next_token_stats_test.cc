#include "common/analysis/next_token_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace ssd {
namespace {

TEST(NextTokenStatsTest, UniformLogitsHaveFullEntropyAndHalfTheMassOutsideTheTopHalf) {
  const std::vector<float> logits(4, 0.5f);
  absl::StatusOr<NextTokenStats> s = ComputeNextTokenStats(logits.data(), 4, 3, 2);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NEAR(s->entropy, std::log(4.0), 1e-12);
  EXPECT_NEAR(s->tail_mass, 0.5, 1e-12);
  EXPECT_NEAR(s->head_entropy, std::log(2.0), 1e-12);
  EXPECT_NEAR(s->top1_share, 0.5, 1e-12);
  EXPECT_NEAR(s->token_prob, 0.25, 1e-12);
  EXPECT_EQ(s->argmax, 0) << "ties go to the lower id";
}

// A lock with a spread tail, checked against the definitions written out
// directly in long double.
TEST(NextTokenStatsTest, ALockWithASpreadTailMatchesTheDefinitions) {
  std::vector<float> logits = {1.0f, 6.0f, 2.5f};
  for (int i = 0; i < 97; ++i) logits.push_back(-1.0f + 0.01f * static_cast<float>(i));
  const int64_t vocab = static_cast<int64_t>(logits.size()), k = 2;
  long double z = 0;
  for (float l : logits) z += std::exp(static_cast<long double>(l));
  std::vector<long double> p;
  for (float l : logits) p.push_back(std::exp(static_cast<long double>(l)) / z);
  long double entropy = 0;
  for (long double q : p) entropy -= q * std::log(q);
  const long double head = p[1] + p[2];  // ids 1 and 2 are the top two
  const long double q1 = p[1] / head, q2 = p[2] / head;

  absl::StatusOr<NextTokenStats> s = ComputeNextTokenStats(logits.data(), vocab, 0, k);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NEAR(s->entropy, static_cast<double>(entropy), 1e-12);
  EXPECT_NEAR(s->tail_mass, static_cast<double>(1 - head), 1e-12);
  EXPECT_NEAR(s->head_entropy, static_cast<double>(-q1 * std::log(q1) - q2 * std::log(q2)), 1e-12);
  EXPECT_NEAR(s->top1_share, static_cast<double>(q1), 1e-12);
  EXPECT_NEAR(s->token_prob, static_cast<double>(p[0]), 1e-12);
  EXPECT_EQ(s->argmax, 1);
}

TEST(NextTokenStatsTest, ATinyTailKeepsItsRelativePrecision) {
  // One dominant token and 9 at e^-40 each: the tail is 9 e^-40 / (1 + 9 e^-40),
  // far below what 1 - head could resolve in double.
  std::vector<float> logits(10, -40.0f);
  logits[4] = 0.0f;
  absl::StatusOr<NextTokenStats> s = ComputeNextTokenStats(logits.data(), 10, 4, 1);
  ASSERT_TRUE(s.ok()) << s.status();
  const double expected = 9 * std::exp(-40.0);
  EXPECT_NEAR(s->tail_mass / expected, 1.0, 1e-9);
  EXPECT_DOUBLE_EQ(s->head_entropy, 0.0);
  EXPECT_DOUBLE_EQ(s->top1_share, 1.0);
}

TEST(NextTokenStatsTest, TopKOfTheWholeVocabularyLeavesNoTail) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  absl::StatusOr<NextTokenStats> s = ComputeNextTokenStats(logits.data(), 3, 0, 3);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->tail_mass, 0.0);
  EXPECT_NEAR(s->head_entropy, s->entropy, 1e-12);
}

TEST(NextTokenStatsTest, BadArgumentsAndNonFiniteLogitsAreRefusedByName) {
  std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  EXPECT_NE(ComputeNextTokenStats(logits.data(), 3, 3, 1).status().message().find("token 3"), std::string::npos);
  EXPECT_NE(ComputeNextTokenStats(logits.data(), 3, -1, 1).status().message().find("token -1"), std::string::npos);
  EXPECT_NE(ComputeNextTokenStats(logits.data(), 3, 0, 0).status().message().find("top_k"), std::string::npos);
  EXPECT_NE(ComputeNextTokenStats(logits.data(), 3, 0, 4).status().message().find("top_k"), std::string::npos);
  EXPECT_FALSE(ComputeNextTokenStats(logits.data(), 0, 0, 1).ok());
  logits[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(ComputeNextTokenStats(logits.data(), 3, 0, 1).status().message().find("logit 1"), std::string::npos);
  logits[1] = std::numeric_limits<float>::infinity();
  EXPECT_NE(ComputeNextTokenStats(logits.data(), 3, 0, 1).status().message().find("logit 1"), std::string::npos);
}

}  // namespace
}  // namespace ssd
