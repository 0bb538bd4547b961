#include "trainer_worker/lr_schedule.h"

#include <gtest/gtest.h>

namespace ssd {
namespace {

LrScheduleOptions Opts(LrDecay decay) {
  LrScheduleOptions o;
  o.peak_lr = 1.0;
  o.warmup_steps = 4;
  o.total_steps = 14;
  o.decay = decay;
  o.min_lr_ratio = 0.1;
  return o;
}

TEST(LrScheduleTest, WarmupRampsLinearlyToThePeak) {
  const auto o = Opts(LrDecay::kCosine);
  EXPECT_DOUBLE_EQ(LearningRate(o, 0), 0.25);
  EXPECT_DOUBLE_EQ(LearningRate(o, 1), 0.5);
  EXPECT_DOUBLE_EQ(LearningRate(o, 3), 1.0);
}

TEST(LrScheduleTest, CosineDecaysFromPeakThroughMidpointToTheFloor) {
  const auto o = Opts(LrDecay::kCosine);
  EXPECT_DOUBLE_EQ(LearningRate(o, 4), 1.0);
  EXPECT_NEAR(LearningRate(o, 9), 0.1 + 0.9 * 0.5, 1e-12);  // halfway through 10 decay steps
  EXPECT_NEAR(LearningRate(o, 14), 0.1, 1e-12);
  EXPECT_NEAR(LearningRate(o, 100), 0.1, 1e-12);
}

TEST(LrScheduleTest, LinearDecayIsAStraightLine) {
  const auto o = Opts(LrDecay::kLinear);
  EXPECT_NEAR(LearningRate(o, 6), 0.1 + 0.9 * 0.8, 1e-12);
  EXPECT_NEAR(LearningRate(o, 14), 0.1, 1e-12);
}

TEST(LrScheduleTest, ConstantStaysAtThePeakAfterWarmup) {
  EXPECT_DOUBLE_EQ(LearningRate(Opts(LrDecay::kConstant), 13), 1.0);
}

TEST(LrScheduleTest, ParseAndValidateNameTheField) {
  EXPECT_EQ(ParseLrDecay("linear").value(), LrDecay::kLinear);
  EXPECT_NE(ParseLrDecay("step").status().message().find("schedule"), std::string::npos);
  LrScheduleOptions o;
  o.peak_lr = -1;
  EXPECT_NE(o.Validate().message().find("lr"), std::string::npos);
  o.peak_lr = 1;
  o.warmup_steps = -1;
  EXPECT_NE(o.Validate().message().find("warmup"), std::string::npos);
}

}  // namespace
}  // namespace ssd
