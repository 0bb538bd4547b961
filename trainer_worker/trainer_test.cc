#include "trainer_worker/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/model/test_models.h"
#include "tests/testing/temp_dir.h"
#include "trainer_worker/in_process_collective.h"
#include "trainer_worker/rank_share.h"
#include "trainer_worker/test_examples.h"

namespace ssd {
namespace {

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(1); }

  TrainerOptions Options(const std::string& out) const { return SyntheticTrainerOptions(dir_ + "/" + out); }

  static std::unique_ptr<Decoder> Model(ModelArch arch = ModelArch::kQwen3) {
    return Decoder::RandomInit(TinyConfig(arch), /*seed=*/5).value();
  }

  std::unique_ptr<Trainer> Make(const TrainerOptions& o, Collective* c = nullptr, ModelArch arch = ModelArch::kQwen3) {
    auto t = Trainer::FromModel(o, Model(arch), DatasetFromExamples(SyntheticExamples(97)), c);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? std::move(*t) : nullptr;
  }

  static std::vector<at::Tensor> Weights(const Trainer& t) {
    std::vector<at::Tensor> out;
    for (auto& [name, p] : t.model().Parameters()) out.push_back(p.detach().clone());
    return out;
  }

  // max |a - b| / max |b| over each tensor, the worst tensor.
  static double MaxRelativeDiff(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>() / b[i].abs().max().item<double>());
    }
    return worst;
  }

  ScopedTempDir tmp_{"trainer_test"};
  std::string dir_ = tmp_.path();
};

TEST_F(TrainerTest, PromptPositionsGetExactlyZeroGradient) {
  auto model = Model();
  const auto examples = SyntheticExamples(97);
  MicroBatchSpec spec;
  spec.rows = {{0, 1}, {2}};
  BatchPlanOptions bo;
  bo.row_tokens = 64;
  bo.micro_batch_tokens = 128;
  bo.batch_tokens = 128;
  const MicroBatch mb = Materialize(spec, examples, bo);
  at::Tensor ids = at::tensor(mb.input_ids, at::kLong).view({mb.rows, mb.cols});
  at::Tensor targets = at::tensor(mb.targets, at::kLong).view({mb.rows, mb.cols});
  at::Tensor hidden =
      model->ForwardHidden(ids, AttentionLayout::Packed(mb.doc_lengths, mb.cols)).detach().requires_grad_(true);
  at::Tensor loss = TokenLossSum(*model, hidden, targets);
  loss.backward();
  at::Tensor row_grad = hidden.grad().abs().sum(-1).view(-1);
  int64_t trained = 0;
  for (int64_t i = 0; i < mb.rows * mb.cols; ++i) {
    if (mb.targets[static_cast<size_t>(i)] == kIgnoreTarget) {
      EXPECT_EQ(row_grad[i].item<float>(), 0.0f) << "position " << i << " has no target but gets gradient";
    } else {
      EXPECT_GT(row_grad[i].item<float>(), 0.0f) << "position " << i;
      ++trained;
    }
  }
  EXPECT_EQ(trained, mb.loss_tokens);
  EXPECT_GT(mb.rows * mb.cols, trained);  // there were prompt and pad positions to check
}

TEST_F(TrainerTest, ChunkedLossOverALargeVocabularyEqualsTheOneShotLoss) {
  ModelConfig c = TinyConfig(ModelArch::kQwen3);
  c.vocab_size = 32000;  // 131 rows per 16 MiB logits chunk, so 300 targets take 3 chunks
  auto model = Decoder::RandomInit(c, 2).value();
  at::Tensor ids = at::randint(c.vocab_size, {2, 160}, at::kLong);
  at::Tensor targets = ids.roll(-1, 1).clone();
  targets.narrow(1, 150, 10).fill_(kIgnoreTarget);
  at::Tensor h1 = model->ForwardHidden(ids).detach().requires_grad_(true);
  at::Tensor h2 = h1.detach().clone().requires_grad_(true);
  at::Tensor chunked = TokenLossSum(*model, h1, targets);
  at::Tensor whole =
      at::cross_entropy_loss(model->Logits(h2).view({-1, c.vocab_size}), targets.view(-1), {}, at::Reduction::Sum);
  chunked.backward();
  whole.backward();
  EXPECT_NEAR(chunked.item<double>(), whole.item<double>(), 1e-5 * whole.item<double>());
  EXPECT_TRUE(at::allclose(h1.grad(), h2.grad(), 1e-5, 1e-7));
}

TEST_F(TrainerTest, LabelSmoothingSpreadsItsShareOfEachTargetsLossOverTheWholeVocabulary) {
  ModelConfig c = TinyConfig(ModelArch::kQwen3);
  c.vocab_size = 32000;  // several logits chunks, as above
  auto model = Decoder::RandomInit(c, 3).value();
  at::manual_seed(11);
  at::Tensor ids = at::randint(c.vocab_size, {2, 160}, at::kLong);
  at::Tensor targets = ids.roll(-1, 1).clone();
  targets.narrow(1, 0, 7).fill_(kIgnoreTarget);
  // Scaled so that the distributions are peaked and the smoothed loss differs
  // clearly from the plain one (a near-uniform model has nll ~ the mean).
  at::Tensor hidden = model->ForwardHidden(ids).detach() * 30;
  const double e = 0.1;
  // The definition written out: (1 - e) * -log p(target) + e * mean over the
  // vocabulary of -log p(j), summed over positions with a target.
  at::Tensor logp = at::log_softmax(model->Logits(hidden).view({-1, c.vocab_size}).to(at::kDouble), -1);
  at::Tensor t = targets.view(-1);
  at::Tensor keep = t != kIgnoreTarget;
  at::Tensor nll = -logp.gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1);
  at::Tensor uniform = -logp.mean(-1);
  const double expected = (((1 - e) * nll + e * uniform) * keep.to(at::kDouble)).sum().item<double>();
  const double smoothed = TokenLossSum(*model, hidden, targets, e).item<double>();
  const double plain = TokenLossSum(*model, hidden, targets).item<double>();
  EXPECT_NEAR(smoothed, expected, 1e-5 * expected);
  EXPECT_GT(std::abs(smoothed - plain), 20 * 1e-5 * expected) << "smoothing changed nothing beyond the tolerance";
  TrainerOptions o;
  o.out_dir = "/tmp/unused";
  o.label_smoothing = 1.0;
  EXPECT_NE(o.Validate().message().find("label_smoothing"), std::string::npos);
  o.label_smoothing = -0.1;
  EXPECT_NE(o.Validate().message().find("label_smoothing"), std::string::npos);
}

TEST_F(TrainerTest, MicroBatchWithoutTargetsGivesZeroLossNotNaN) {
  auto model = Model();
  MicroBatch mb;
  mb.rows = 1;
  mb.cols = 4;
  mb.input_ids = {1, 2, 3, 4};
  mb.targets.assign(4, kIgnoreTarget);
  mb.doc_lengths = {{4}};
  at::Tensor loss = MicroBatchLossSum(*model, mb, BatchingMode::kPacked);
  EXPECT_EQ(loss.item<double>(), 0.0);
}

TEST_F(TrainerTest, LossFallsOnALearnablePattern) {
  TrainerOptions o = Options("learn");
  o.lr = 2e-2;
  o.epochs = 12;
  auto t = Make(o);
  ASSERT_NE(t, nullptr);
  std::vector<double> losses;
  while (t->step() < t->total_steps()) losses.push_back(t->Step().value().loss);
  ASSERT_GE(losses.size(), 20u);
  EXPECT_LT(losses.back(), 0.5 * losses.front()) << "from " << losses.front() << " after " << losses.size() << " steps";
}

TEST_F(TrainerTest, SplittingTheGlobalBatchIntoMicroBatchesDoesNotChangeTheUpdate) {
  // Examples that fill a row exactly, so 1 micro-batch of 4 rows and 4
  // micro-batches of 1 row hold the same rows in the same steps.
  auto make = [&](int64_t micro_tokens, const char* out) {
    TrainerOptions o = Options(out);
    o.batching.micro_batch_tokens = micro_tokens;
    o.batching.batch_tokens = 128;
    o.max_steps = 10;
    auto t = Trainer::FromModel(o, Model(), DatasetFromExamples(SyntheticExamples(97, 32)), nullptr);
    EXPECT_TRUE(t.ok()) << t.status();
    return std::move(t).value();
  };
  auto whole = make(128, "whole"), split = make(32, "split");
  std::vector<double> whole_losses, split_losses;
  while (whole->step() < whole->total_steps()) whole_losses.push_back(whole->Step().value().loss);
  while (split->step() < split->total_steps()) split_losses.push_back(split->Step().value().loss);
  ASSERT_EQ(whole_losses.size(), 10u);
  ASSERT_EQ(split_losses.size(), 10u);
  for (size_t s = 0; s < 10; ++s) EXPECT_NEAR(whole_losses[s], split_losses[s], 1e-5 * whole_losses[s]) << s;
  EXPECT_LT(MaxRelativeDiff(Weights(*whole), Weights(*split)), 1e-5);
}

TEST_F(TrainerTest, ActivationCheckpointingTrainsTwentyStepsBitwiseLikeKeepingEveryActivation) {
  auto run = [&](int every, const char* out) {
    TrainerOptions o = Options(out);
    o.max_steps = 20;
    o.activation_checkpointing.every = every;
    auto t = Make(o);
    std::vector<double> losses;
    while (t->step() < t->total_steps()) losses.push_back(t->Step().value().loss);
    return std::make_pair(losses, Weights(*t));
  };
  const auto none = run(0, "none");
  ASSERT_EQ(none.first.size(), 20u);
  for (int every : {1, 2}) {
    const auto checkpointed = run(every, every == 1 ? "full" : "every2");
    EXPECT_EQ(checkpointed.first, none.first) << "every " << every;
    for (size_t i = 0; i < none.second.size(); ++i) {
      EXPECT_TRUE(at::equal(checkpointed.second[i], none.second[i])) << "parameter " << i << ", every " << every;
    }
  }
}

TEST_F(TrainerTest, TwoRanksOverTheInProcessCollectiveMatchOneRank) {
  auto single = Make(Options("dp1"));
  ASSERT_NE(single, nullptr);
  std::vector<double> single_losses;
  while (single->step() < single->total_steps()) single_losses.push_back(single->Step().value().loss);
  ASSERT_GE(single_losses.size(), 20u);

  auto group = std::make_shared<InProcessGroup>(2);
  InProcessCollective c0(group, 0), c1(group, 1);
  auto r0 = Make(Options("dp2"), &c0), r1 = Make(Options("dp2"), &c1);
  ASSERT_TRUE(r0 && r1);
  std::vector<double> dp_losses;
  std::thread peer([&] {
    while (r1->step() < r1->total_steps()) ASSERT_TRUE(r1->Step().ok());
  });
  while (r0->step() < r0->total_steps()) dp_losses.push_back(r0->Step().value().loss);
  peer.join();

  ASSERT_EQ(dp_losses.size(), single_losses.size());
  for (size_t s = 0; s < dp_losses.size(); ++s)
    EXPECT_NEAR(dp_losses[s], single_losses[s], 1e-5 * single_losses[s]) << s;
  EXPECT_LT(MaxRelativeDiff(Weights(*r0), Weights(*single)), 1e-5);
  // Every rank holds the same weights.
  EXPECT_EQ(MaxRelativeDiff(Weights(*r0), Weights(*r1)), 0.0);
}

TEST_F(TrainerTest, PaddedBatchingAlsoGivesTheSameResultOnTwoRanks) {
  TrainerOptions o = Options("padded1");
  o.batching.mode = BatchingMode::kPadded;
  o.max_steps = 12;
  auto single = Make(o);
  std::vector<double> single_losses;
  while (single->step() < single->total_steps()) single_losses.push_back(single->Step().value().loss);

  auto group = std::make_shared<InProcessGroup>(2);
  InProcessCollective c0(group, 0), c1(group, 1);
  o.out_dir = dir_ + "/padded2";
  auto r0 = Make(o, &c0), r1 = Make(o, &c1);
  std::thread peer([&] {
    while (r1->step() < r1->total_steps()) ASSERT_TRUE(r1->Step().ok());
  });
  std::vector<double> dp_losses;
  while (r0->step() < r0->total_steps()) dp_losses.push_back(r0->Step().value().loss);
  peer.join();
  ASSERT_EQ(dp_losses.size(), 12u);
  for (size_t s = 0; s < dp_losses.size(); ++s) {
    EXPECT_TRUE(std::isfinite(dp_losses[s]));
    EXPECT_NEAR(dp_losses[s], single_losses[s], 1e-5 * single_losses[s]) << s;
  }
  EXPECT_LT(MaxRelativeDiff(Weights(*r0), Weights(*single)), 1e-5);
}

// What the trainer agent gives rank `rank` of `world` (rank_share.h): only
// the examples its micro-batches use, plus every example's size.
SftDataset RankShareOf(const std::vector<TokenizedExample>& all, const TrainerOptions& o, int rank, int world,
                       bool drop_one_used = false) {
  BatchPlanOptions b = o.batching;
  b.row_tokens = o.max_seq_len;
  BatchPlan plan = BatchPlan::Build(all, b, o.epochs).value();
  const std::vector<bool> used = plan.ExamplesOfRank(rank, world, o.max_steps);
  std::vector<SharedExample> shared;
  std::vector<TokenizedExample> held;
  bool dropped = false;
  for (size_t i = 0; i < all.size(); ++i) {
    SharedExample x;
    x.size = SizeOf(all[i]);
    x.held = used[i] && !(drop_one_used && !dropped);
    if (used[i] && !x.held) dropped = true;
    if (x.held) held.push_back(all[i]);
    shared.push_back(x);
  }
  return SpreadRankShare(DatasetFromExamples(std::move(held)), shared, "sizes.txt").value();
}

TEST_F(TrainerTest, RanksHoldingOnlyTheirShareTrainBitwiseLikeRanksHoldingEverything) {
  TrainerOptions o = Options("full");
  o.max_steps = 10;
  const std::vector<TokenizedExample> all = SyntheticExamples(97);
  auto run_pair = [&](const std::string& out, SftDataset d0, SftDataset d1, int64_t* held0) {
    TrainerOptions oo = o;
    oo.out_dir = dir_ + "/" + out;
    auto group = std::make_shared<InProcessGroup>(2);
    InProcessCollective c0(group, 0), c1(group, 1);
    int64_t h = 0;
    for (const TokenizedExample& ex : d0.examples) h += ex.ids.empty() ? 0 : 1;
    *held0 = h;
    auto r0 = Trainer::FromModel(oo, Model(), std::move(d0), &c0);
    auto r1 = Trainer::FromModel(oo, Model(), std::move(d1), &c1);
    EXPECT_TRUE(r0.ok() && r1.ok()) << r0.status() << " / " << r1.status();
    std::thread peer([&] {
      while ((*r1)->step() < (*r1)->total_steps()) ASSERT_TRUE((*r1)->Step().ok());
    });
    while ((*r0)->step() < (*r0)->total_steps()) EXPECT_TRUE((*r0)->Step().ok());
    peer.join();
    return Weights(**r0);
  };
  int64_t held_full = 0, held_share = 0;
  const auto full = run_pair("full", DatasetFromExamples(all), DatasetFromExamples(all), &held_full);
  const auto share = run_pair("share", RankShareOf(all, o, 0, 2), RankShareOf(all, o, 1, 2), &held_share);
  EXPECT_EQ(held_full, static_cast<int64_t>(all.size()));
  EXPECT_LT(held_share, held_full);  // the point: a rank reads less than the round
  EXPECT_GT(held_share, 0);
  EXPECT_EQ(MaxRelativeDiff(share, full), 0.0);
}

TEST_F(TrainerTest, ARankMissingAnExampleItTrainsOnIsRefusedNamingIt) {
  TrainerOptions o = Options("missing");
  o.max_steps = 10;
  auto group = std::make_shared<InProcessGroup>(2);
  InProcessCollective c0(group, 0);
  auto t = Trainer::FromModel(o, Model(), RankShareOf(SyntheticExamples(97), o, 0, 2, /*drop_one_used=*/true), &c0);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(t.status().message()).find("rank 0 of 2 trains on example"), std::string::npos) << t.status();
}

TEST_F(TrainerTest, ResumingFromACheckpointReproducesTheUninterruptedRunBitwise) {
  auto straight = Make(Options("straight"));
  ASSERT_NE(straight, nullptr);
  while (straight->step() < straight->total_steps()) ASSERT_TRUE(straight->Step().ok());

  TrainerOptions o = Options("resumed");
  {
    auto first = Make(o);
    for (int s = 0; s < 7; ++s) ASSERT_TRUE(first->Step().ok());
    ASSERT_TRUE(first->SaveCheckpoint().ok());
    ASSERT_TRUE(first->Step().ok());  // progress after the checkpoint is lost
  }
  o.resume = true;
  auto second = Make(o);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->step(), 7);
  while (second->step() < second->total_steps()) ASSERT_TRUE(second->Step().ok());
  const auto a = Weights(*straight), b = Weights(*second);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i], b[i])) << "parameter " << i;
}

TEST_F(TrainerTest, ASaveTornByACrashIsIgnoredOnResumeAndCleanedUpLater) {
  TrainerOptions o = Options("torn");
  {
    auto t = Make(o);
    for (int s = 0; s < 3; ++s) ASSERT_TRUE(t->Step().ok());
    ASSERT_TRUE(t->SaveCheckpoint().ok());
  }
  // What a crash halfway through saving step 4 leaves behind.
  const std::string torn = o.out_dir + "/checkpoints/step-00000004.partial";
  std::filesystem::create_directories(torn);
  std::ofstream(torn + "/model.safetensors") << "half a file";
  o.resume = true;
  auto t = Make(o);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->step(), 3);
  ASSERT_TRUE(t->Step().ok());
  ASSERT_TRUE(t->SaveCheckpoint().ok());
  EXPECT_FALSE(std::filesystem::exists(torn));
  EXPECT_TRUE(std::filesystem::exists(o.out_dir + "/checkpoints/step-00000004/train_state.json"));
}

TEST_F(TrainerTest, LatestNamingAMissingCheckpointIsDataLoss) {
  TrainerOptions o = Options("dangling");
  std::filesystem::create_directories(o.out_dir + "/checkpoints");
  std::ofstream(o.out_dir + "/checkpoints/latest") << "step-00000042\n";
  o.resume = true;
  auto t = Trainer::FromModel(o, Model(), DatasetFromExamples(SyntheticExamples(97)), nullptr);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(t.status().message().find("step-00000042"), std::string::npos) << t.status();
}

TEST_F(TrainerTest, ResumeRefusesAChangedRecipeNamingTheSetting) {
  TrainerOptions o = Options("recipe");
  {
    auto t = Make(o);
    ASSERT_TRUE(t->Step().ok());
    ASSERT_TRUE(t->SaveCheckpoint().ok());
  }
  o.resume = true;
  o.lr = 1e-3;
  auto t = Trainer::FromModel(o, Model(), DatasetFromExamples(SyntheticExamples(97)), nullptr);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("used lr = "), std::string::npos) << t.status();
}

TEST_F(TrainerTest, CheckpointOfAnotherArchitectureIsRejected) {
  TrainerOptions o = Options("arch");
  {
    auto t = Make(o);
    ASSERT_TRUE(t->SaveCheckpoint().ok());
  }
  o.resume = true;
  auto t = Trainer::FromModel(o, Model(ModelArch::kLlama), DatasetFromExamples(SyntheticExamples(97)), nullptr);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(t.status().message().find("different architecture (qwen3"), std::string::npos) << t.status();
}

TEST_F(TrainerTest, RunWritesMetricsCheckpointsAndAFinalModel) {
  TrainerOptions o = Options("run");
  o.max_steps = 4;
  o.save_every = 2;
  auto t = Make(o);
  ASSERT_TRUE(t->Run().ok());
  EXPECT_TRUE(std::filesystem::exists(o.out_dir + "/model/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(o.out_dir + "/checkpoints/step-00000004/optimizer.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(o.out_dir + "/checkpoints/step-00000002/train_state.json"));
  EXPECT_FALSE(std::filesystem::exists(o.out_dir + "/checkpoints/step-00000004.partial"));
  auto loaded = Decoder::Load(o.out_dir + "/model");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const auto w = Weights(*t);
  auto params = (*loaded)->Parameters();
  for (size_t i = 0; i < w.size(); ++i) EXPECT_TRUE(at::equal(w[i], params[i].second));
}

}  // namespace
}  // namespace ssd
