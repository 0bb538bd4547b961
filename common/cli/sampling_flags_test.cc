#include "common/cli/sampling_flags.h"

#include <gtest/gtest.h>

#include "CLI/CLI.hpp"
#include "common/sampling/sampling_presets.h"

namespace ssd {
namespace {

// Parses `args` as a command with the sampling flags and resolves them.
absl::StatusOr<SamplingParams> Parse(std::vector<std::string> args, const char* preset = kSsdTrainPreset,
                                     int64_t n = 1) {
  CLI::App app;
  SamplingFlags f;
  AddSamplingFlags(&app, &f, preset, n);
  args.insert(args.begin(), "test");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return ResolveSamplingFlags(f);
}

TEST(SamplingFlagsTest, DefaultsAreTheCommandsPresetWithLongAnswers) {
  absl::StatusOr<SamplingParams> p = Parse({});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->temperature, 1.5);
  EXPECT_EQ(p->top_k, 20);
  EXPECT_EQ(p->top_p, 0.8);
  EXPECT_EQ(p->min_p, 0.0);
  EXPECT_EQ(p->repetition_penalty, 1.0);
  EXPECT_EQ(p->max_tokens, kDefaultMaxTokens);
  EXPECT_GE(p->max_tokens, 2048);
  EXPECT_EQ(p->n, 1);

  p = Parse({}, kSsdEvalPreset, 10);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->temperature, 1.1);
  EXPECT_EQ(p->top_k, 20);
  EXPECT_EQ(p->top_p, 0.8);
  EXPECT_EQ(p->n, 10);
  EXPECT_EQ(p->max_tokens, kDefaultMaxTokens);
}

TEST(SamplingFlagsTest, APresetSetsDecodeSettingsAndGivenFlagsOverrideIt) {
  absl::StatusOr<SamplingParams> p = Parse({"--preset", "ssd-eval"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->temperature, 1.1);
  // A flag given explicitly wins over the preset, whichever comes first.
  p = Parse({"--top-p", "0.95", "--preset", "ssd-eval", "--temperature", "0"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->temperature, 0.0);
  EXPECT_EQ(p->top_p, 0.95);
  EXPECT_EQ(p->top_k, 20);
  // Even a flag given with the value the default preset also has.
  p = Parse({"--preset", "ssd-eval", "--temperature", "1.5"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->temperature, 1.5);
  p = Parse({"--n", "4", "--max-tokens", "99", "--seed", "7", "--stop", "```"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->n, 4);
  EXPECT_EQ(p->max_tokens, 99);
  EXPECT_EQ(p->seed, 7u);
  EXPECT_EQ(p->stop, std::vector<std::string>{"```"});
}

TEST(SamplingFlagsTest, AnUnknownPresetIsRefusedListingTheNames) {
  absl::StatusOr<SamplingParams> p = Parse({"--preset", "paper"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("ssd-train, ssd-eval"), std::string::npos) << p.status();
}

TEST(SamplingFlagsTest, MaxTokensBeyondTheContextIsCappedAndCounted) {
  MaxTokensCap cap(64, "/m");
  EXPECT_EQ(cap.Apply(10, "--max-tokens"), 10);
  EXPECT_EQ(cap.capped(), 0);
  EXPECT_EQ(cap.Apply(65, "--max-tokens"), 64);
  EXPECT_EQ(cap.Apply(1 << 20, "p.jsonl:3 max_tokens"), 64);
  EXPECT_EQ(cap.capped(), 2);
}

TEST(SamplingFlagsTest, LengthStopsWarnAboveAFewPercentWithTheCount) {
  EXPECT_EQ(LengthStopWarning(0, 100, 2048), "");
  EXPECT_EQ(LengthStopWarning(5, 100, 2048), "");  // 5% is "a few"
  EXPECT_EQ(LengthStopWarning(0, 0, 2048), "");
  const std::string w = LengthStopWarning(6, 100, 2048);
  EXPECT_NE(w.find("6 of 100 samples (6.0%)"), std::string::npos) << w;
  EXPECT_NE(w.find("--max-tokens 2048"), std::string::npos) << w;
}

}  // namespace
}  // namespace ssd
