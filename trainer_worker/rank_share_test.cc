#include "trainer_worker/rank_share.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "tests/testing/temp_dir.h"
#include "trainer_worker/rank_data.h"

namespace ssd {
namespace {

class RankShareTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  ScopedTempDir tmp_{"rank_share_test"};
  std::string dir_ = tmp_.path();
};

TokenizedExample Example(int len, int prompt, int line = 0) {
  TokenizedExample ex;
  ex.line = line;
  for (int t = 0; t < len; ++t) {
    ex.ids.push_back(t + 1);
    ex.loss_mask.push_back(t >= prompt ? 1 : 0);
  }
  return ex;
}

TEST_F(RankShareTest, SizesRoundTripThroughTheFile) {
  std::vector<SharedExample> in = {{{5, 2}, true}, {{9, 8}, false}, {{1, 0}, true}};
  const std::string path = dir_ + "/sizes.txt";
  ASSERT_TRUE(WriteRankSizes(path, in).ok());
  auto out = ReadRankSizes(path);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 3u);
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ((*out)[i].size.tokens, in[i].size.tokens);
    EXPECT_EQ((*out)[i].size.loss_tokens, in[i].size.loss_tokens);
    EXPECT_EQ((*out)[i].held, in[i].held);
  }
}

TEST_F(RankShareTest, BadSizesFilesAreRefusedNamingFileAndLine) {
  struct Case {
    std::string text, want;
  } cases[] = {
      {"", "empty"},
      {"5 2 1\n", ":1: expected \"# ssd rank sizes v1\""},
      {"# ssd rank sizes v1\n5 2 1\n5 x 1\n", ":3: expected"},
      {"# ssd rank sizes v1\n5 2 2\n", ":2: expected"},
      {"# ssd rank sizes v1\n5 5 1\n", ":2: 5 tokens with 5 loss tokens"},
      {"# ssd rank sizes v1\n0 0 0\n", ":2: 0 tokens"},
      {"# ssd rank sizes v1\n", "lists no examples"},
  };
  for (const Case& c : cases) {
    const std::string path = Write("bad.txt", c.text);
    auto r = ReadRankSizes(path);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(std::string(r.status().message()).find(c.want), std::string::npos) << r.status();
    EXPECT_NE(std::string(r.status().message()).find(path), std::string::npos) << r.status();
  }
}

TEST_F(RankShareTest, HeldExamplesArePlacedAtTheirRoundPositions) {
  std::vector<SharedExample> shared = {{{6, 2}, false}, {{4, 1}, true}, {{8, 3}, false}, {{5, 3}, true}};
  auto ds = SpreadRankShare(DatasetFromExamples({Example(4, 3), Example(5, 2)}), shared, "sizes.txt");
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ(ds->examples.size(), 4u);
  EXPECT_TRUE(ds->examples[0].ids.empty());
  EXPECT_EQ(ds->examples[1].ids.size(), 4u);
  EXPECT_TRUE(ds->examples[2].ids.empty());
  EXPECT_EQ(ds->examples[3].ids.size(), 5u);
  ASSERT_EQ(ds->sizes.size(), 4u);
  EXPECT_EQ(ds->sizes[2].tokens, 8);
  // Another rank, holding the other examples of the same round, agrees on
  // the fingerprint a resumed group checks.
  std::vector<SharedExample> other = shared;
  for (auto& x : other) x.held = !x.held;
  auto ds2 = SpreadRankShare(DatasetFromExamples({Example(6, 4), Example(8, 5)}), other, "sizes.txt");
  ASSERT_TRUE(ds2.ok()) << ds2.status();
  EXPECT_EQ(ds->fingerprint, ds2->fingerprint);
}

TEST_F(RankShareTest, ADifferentCountOrSizeIsRefusedNamingTheExample) {
  std::vector<SharedExample> shared = {{{4, 1}, true}, {{5, 3}, true}};
  auto few = SpreadRankShare(DatasetFromExamples({Example(4, 3)}), shared, "sizes.txt");
  ASSERT_FALSE(few.ok());
  EXPECT_NE(std::string(few.status().message()).find("marks 2 examples as held, but the data file has 1"),
            std::string::npos)
      << few.status();
  // The sampler counted 5 tokens with 3 trained; this tokenizer gives 5 with 2.
  auto differ = SpreadRankShare(DatasetFromExamples({Example(4, 3, 1), Example(5, 3, 2)}), shared, "sizes.txt");
  ASSERT_FALSE(differ.ok());
  EXPECT_EQ(differ.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(differ.status().message()).find("example 1 (data line 2): sizes.txt says 5 tokens and 3"),
            std::string::npos)
      << differ.status();
}

TEST(SelectBitmapTest, BitIIsByteIOver8LeastSignificantFirst) {
  EXPECT_EQ(SelectBitmap({}), "");
  EXPECT_EQ(SelectBitmap({0}), std::string("\x01", 1));
  EXPECT_EQ(SelectBitmap({1, 7}), std::string("\x82", 1));
  EXPECT_EQ(SelectBitmap({8, 17}), std::string("\x00\x01\x02", 3));
}

TEST(PlanOptionsTest, TheAgentPlansWithTheSettingsItPassesToSsdTrain) {
  v1::TrainSpec t;
  t.set_batching(v1::BATCHING_PADDED);
  t.set_max_seq_len(64);
  t.set_micro_batch_tokens(128);
  t.set_batch_tokens(512);
  t.set_seed(9);
  t.set_epochs(3);
  auto o = PlanOptionsFor(t);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->mode, BatchingMode::kPadded);
  EXPECT_EQ(o->row_tokens, 64);
  EXPECT_EQ(o->micro_batch_tokens, 128);
  EXPECT_EQ(o->batch_tokens, 512);
  EXPECT_EQ(o->seed, 9u);
  EXPECT_EQ(PlanEpochs(t), 3);
  t.set_steps(5);
  EXPECT_EQ(PlanEpochs(t), 1000) << "a spec with steps runs until them";
  t.set_batching(v1::BATCHING_UNSPECIFIED);
  EXPECT_FALSE(PlanOptionsFor(t).ok());
}

}  // namespace
}  // namespace ssd
