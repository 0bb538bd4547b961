#include "trainer_worker/packing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace ssd {
namespace {

// Example i has `len` tokens with ids 1000*i + t; the second half is the reply.
std::vector<TokenizedExample> Examples(const std::vector<int64_t>& lengths) {
  std::vector<TokenizedExample> out;
  for (size_t i = 0; i < lengths.size(); ++i) {
    TokenizedExample ex;
    for (int64_t t = 0; t < lengths[i]; ++t) {
      ex.ids.push_back(static_cast<int32_t>(1000 * i + t));
      ex.loss_mask.push_back(t >= lengths[i] / 2 && t > 0 ? 1 : 0);
    }
    ex.line = static_cast<int64_t>(i + 1);
    out.push_back(std::move(ex));
  }
  return out;
}

BatchPlanOptions Opts(int64_t row, int64_t micro, int64_t batch) {
  BatchPlanOptions o;
  o.row_tokens = row;
  o.micro_batch_tokens = micro;
  o.batch_tokens = batch;
  o.seed = 7;
  return o;
}

TEST(ShufflePermutationTest, IsAPermutationFixedBySeedAndEpoch) {
  const auto a = ShufflePermutation(100, 1, 0);
  EXPECT_EQ(a, ShufflePermutation(100, 1, 0));
  EXPECT_NE(a, ShufflePermutation(100, 1, 1));
  EXPECT_NE(a, ShufflePermutation(100, 2, 0));
  std::vector<int32_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int32_t i = 0; i < 100; ++i) EXPECT_EQ(sorted[static_cast<size_t>(i)], i);
}

TEST(BatchPlanTest, PackedPlanUsesEveryExampleOncePerEpochWithinRowBudgets) {
  const auto ex = Examples({5, 9, 3, 16, 7, 2, 11, 4, 8, 6, 13, 1});
  auto plan = BatchPlan::Build(ex, Opts(16, 32, 64), 2);
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (int64_t e = 0; e < 2; ++e) {
    std::multiset<int32_t> seen;
    for (int64_t s = 0; s < plan->num_steps(); ++s) {
      if (plan->step(s).epoch != e) continue;
      for (int64_t i = 0; i < plan->step(s).count; ++i) {
        const MicroBatchSpec& mb = plan->micro_batch(e, plan->step(s).first + i);
        EXPECT_LE(mb.rows.size(), 2u);
        for (const auto& row : mb.rows) {
          int64_t used = 0;
          for (int32_t idx : row) {
            seen.insert(idx);
            used += static_cast<int64_t>(ex[static_cast<size_t>(idx)].ids.size());
          }
          EXPECT_LE(used, 16);
        }
      }
    }
    EXPECT_EQ(seen.size(), ex.size());
    EXPECT_EQ(std::set<int32_t>(seen.begin(), seen.end()).size(), ex.size());
  }
}

TEST(BatchPlanTest, MaterializedTargetsAreTheNextTokenOnlyInsideTheReply) {
  const auto ex = Examples({6, 4});
  MicroBatchSpec spec;
  spec.rows = {{0, 1}};
  const MicroBatch mb = Materialize(spec, ex, Opts(12, 12, 12));
  ASSERT_EQ(mb.rows, 1);
  ASSERT_EQ(mb.cols, 10) << "as wide as its longest row, not the 12 of a full row";
  // doc 0: ids 0..5, mask on t >= 3 -> positions 2,3,4 predict 3,4,5; pos 5 (doc end) none.
  const std::vector<int64_t> want_targets = {-100, -100, 3, 4, 5, -100,
                                             // doc 1: ids 1000..1003, mask on t >= 2
                                             -100, 1002, 1003, -100};
  EXPECT_EQ(mb.targets, want_targets);
  EXPECT_EQ(mb.doc_lengths, (std::vector<std::vector<int64_t>>{{6, 4}}));
  EXPECT_EQ(mb.loss_tokens, 5);
  EXPECT_EQ(mb.real_tokens, 10);
  EXPECT_EQ(mb.input_ids[6], 1000);
}

TEST(BatchPlanTest, APackedMicroBatchIsAsWideAsItsLongestRowAndPadsTheOthers) {
  const auto ex = Examples({6, 4, 3});
  MicroBatchSpec spec;
  spec.rows = {{0, 1}, {2}};
  const MicroBatch mb = Materialize(spec, ex, Opts(16, 32, 32));
  ASSERT_EQ(mb.rows, 2);
  ASSERT_EQ(mb.cols, 10);
  EXPECT_EQ(mb.doc_lengths, (std::vector<std::vector<int64_t>>{{6, 4}, {3}}));
  for (int64_t i = 13; i < 20; ++i) {
    EXPECT_EQ(mb.input_ids[static_cast<size_t>(i)], 0) << i;
    EXPECT_EQ(mb.targets[static_cast<size_t>(i)], kIgnoreTarget) << i;
  }
}

TEST(BatchPlanTest, RankSharesAreDisjointStridesThatCoverTheStep) {
  const auto ex = Examples({8, 8, 8, 8, 8, 8, 8, 8, 8, 8});
  auto plan = BatchPlan::Build(ex, Opts(8, 8, 32), 1);  // 4 micro-batches per step
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->num_steps(), 3);  // 10 micro-batches: 4 + 4 + 2
  EXPECT_EQ(plan->step(2).count, 2);
  for (int64_t s = 0; s < plan->num_steps(); ++s) {
    std::set<const MicroBatchSpec*> all;
    for (int r = 0; r < 2; ++r) {
      for (const MicroBatchSpec* p : plan->RankShare(s, r, 2)) EXPECT_TRUE(all.insert(p).second);
    }
    EXPECT_EQ(static_cast<int64_t>(all.size()), plan->step(s).count);
  }
  // The first rank takes micro-batches 0 and 2 of step 0.
  auto share = plan->RankShare(0, 0, 2);
  ASSERT_EQ(share.size(), 2u);
  EXPECT_EQ(share[1], &plan->micro_batch(0, 2));
}

TEST(BatchPlanTest, GlobalLossTokensCountTheWholeStepWhateverTheSplit) {
  const auto ex = Examples({5, 9, 3, 16, 7, 2, 11, 4});
  auto plan = BatchPlan::Build(ex, Opts(16, 16, 64), 1);
  ASSERT_TRUE(plan.ok());
  int64_t total = 0;
  for (int64_t s = 0; s < plan->num_steps(); ++s) {
    int64_t by_rank = 0;
    for (int r = 0; r < 3; ++r) {
      for (const MicroBatchSpec* p : plan->RankShare(s, r, 3))
        by_rank += Materialize(*p, ex, plan->options()).loss_tokens;
    }
    EXPECT_EQ(by_rank, plan->GlobalLossTokens(s));
    total += by_rank;
  }
  int64_t want = 0;
  for (const auto& e : ex) want += e.num_targets();
  EXPECT_EQ(total, want);
}

TEST(BatchPlanTest, PaddedModeBucketsByLengthWithinTheTokenBudget) {
  const auto ex = Examples({3, 15, 4, 14, 5, 13, 2, 16});
  BatchPlanOptions o = Opts(16, 32, 32);
  o.mode = BatchingMode::kPadded;
  auto plan = BatchPlan::Build(ex, o, 1);
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (int64_t s = 0; s < plan->num_steps(); ++s) {
    for (const MicroBatchSpec* p : plan->RankShare(s, 0, 1)) {
      const MicroBatch mb = Materialize(*p, ex, o);
      EXPECT_LE(mb.rows * mb.cols, 32);
      for (const auto& row : mb.doc_lengths) EXPECT_EQ(row.size(), 1u);
    }
  }
}

TEST(BatchPlanTest, ExampleLongerThanARowIsRejectedNamingIt) {
  auto plan = BatchPlan::Build(Examples({4, 20}), Opts(16, 16, 16), 1);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("example 1 (line 2) has 20 tokens"), std::string::npos) << plan.status();
}

TEST(BatchPlanOptionsTest, ValidateNamesTheBadField) {
  EXPECT_NE(Opts(16, 24, 48).Validate().message().find("micro_batch_tokens"), std::string::npos);
  EXPECT_NE(Opts(16, 32, 48).Validate().message().find("batch_tokens"), std::string::npos);
  EXPECT_TRUE(Opts(16, 32, 64).Validate().ok());
}

TEST(BatchPlanTest, ThePlanFromSizesAloneEqualsThePlanFromTheExamples) {
  const auto ex = Examples({5, 9, 3, 16, 7, 2, 11, 4, 8, 6, 13, 1, 15, 10, 12});
  std::vector<ExampleSize> sizes;
  for (const auto& e : ex) sizes.push_back(SizeOf(e));
  for (BatchingMode mode : {BatchingMode::kPacked, BatchingMode::kPadded}) {
    BatchPlanOptions o = Opts(16, 32, 64);
    o.mode = mode;
    auto a = BatchPlan::Build(ex, o, 3);
    auto b = BatchPlan::Build(sizes, o, 3);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->num_steps(), b->num_steps());
    for (int64_t s = 0; s < a->num_steps(); ++s) {
      EXPECT_EQ(a->GlobalLossTokens(s), b->GlobalLossTokens(s));
      const auto ma = a->RankShare(s, 0, 1), mb = b->RankShare(s, 0, 1);
      ASSERT_EQ(ma.size(), mb.size());
      for (size_t m = 0; m < ma.size(); ++m) EXPECT_EQ(ma[m]->rows, mb[m]->rows) << "step " << s;
    }
  }
}

TEST(BatchPlanTest, ExamplesOfRankAreExactlyWhatItsMicroBatchesUse) {
  const auto ex = Examples({5, 9, 3, 16, 7, 2, 11, 4, 8, 6, 13, 1, 15, 10, 12, 3, 3, 9});
  auto plan = BatchPlan::Build(ex, Opts(16, 16, 64), 2);
  ASSERT_TRUE(plan.ok());
  for (int64_t steps : {int64_t{0}, int64_t{1}, int64_t{3}}) {
    std::vector<bool> any(ex.size(), false);
    for (int rank = 0; rank < 2; ++rank) {
      std::set<int32_t> want;
      const int64_t n = steps > 0 ? std::min(steps, plan->num_steps()) : plan->num_steps();
      for (int64_t s = 0; s < n; ++s) {
        for (const MicroBatchSpec* mb : plan->RankShare(s, rank, 2)) {
          for (const auto& row : mb->rows) want.insert(row.begin(), row.end());
        }
      }
      const std::vector<bool> used = plan->ExamplesOfRank(rank, 2, steps);
      ASSERT_EQ(used.size(), ex.size());
      for (size_t i = 0; i < ex.size(); ++i) {
        EXPECT_EQ(used[i], want.count(static_cast<int32_t>(i)) == 1) << "rank " << rank << " example " << i;
        any[i] = any[i] || used[i];
      }
    }
    if (steps == 0) {
      for (size_t i = 0; i < ex.size(); ++i) EXPECT_TRUE(any[i]) << "every example is some rank's";
    }
  }
  // One step of a two-epoch plan needs only part of the data on each rank.
  const std::vector<bool> first = plan->ExamplesOfRank(0, 2, 1);
  EXPECT_LT(std::count(first.begin(), first.end(), true), static_cast<std::ptrdiff_t>(ex.size()));
}

TEST(BatchPlanTest, SizesThatCannotBeAConversationAreRefusedNamingTheExample) {
  std::vector<ExampleSize> sizes = {{4, 2}, {0, 0}, {3, 1}};
  auto plan = BatchPlan::Build(sizes, Opts(16, 16, 16), 1);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(std::string(plan.status().message()).find("example 1 has 0 tokens"), std::string::npos) << plan.status();
  sizes[1] = {5, 5};  // every token a target: impossible, token 0 never is
  EXPECT_FALSE(BatchPlan::Build(sizes, Opts(16, 16, 16), 1).ok());
  sizes[1] = {17, 3};  // longer than a row
  EXPECT_FALSE(BatchPlan::Build(sizes, Opts(16, 16, 16), 1).ok());
}

}  // namespace
}  // namespace ssd
