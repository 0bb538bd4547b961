// Sharded data parallel (ZeRO-1/2/3) against plain training on one rank:
// the same weights and losses, over Gloo as the CPU cluster runs it.
#include "trainer_worker/sharded_model.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "common/model/test_models.h"
#include "tests/testing/temp_dir.h"
#include "trainer_worker/gloo_collective.h"
#include "trainer_worker/in_process_collective.h"
#include "trainer_worker/memory_plan.h"
#include "trainer_worker/sharded_checkpoint.h"
#include "trainer_worker/test_examples.h"
#include "trainer_worker/trainer.h"

namespace ssd {
namespace {

class ShardedModelTest : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(1); }

  TrainerOptions Options(const std::string& out) const {
    TrainerOptions o = SyntheticTrainerOptions(dir_ + "/" + out);  // weight decay on, so a decayed norm would show
    o.max_steps = 20;
    o.grad_clip = 0.5;  // and clipping acts
    return o;
  }

  static std::unique_ptr<Decoder> Model() { return Decoder::RandomInit(TinyConfig(ModelArch::kQwen3), 5).value(); }

  struct Run {
    std::vector<double> losses;  // rank 0's
    NamedTensors weights;        // gathered on rank 0
  };

  // Trains `o` on `world` ranks (threads), each over a collective `make`
  // returns, and gathers the weights at the end.
  template <typename MakeCollective>
  Run Train(const TrainerOptions& o, int world, MakeCollective make) {
    Run run;
    auto rank_main = [&](int r) {
      std::unique_ptr<Collective> c = make(r);
      ASSERT_NE(c, nullptr);
      auto t = Trainer::FromModel(o, Model(), DatasetFromExamples(SyntheticExamples(97)), c.get());
      ASSERT_TRUE(t.ok()) << t.status();
      while ((*t)->step() < (*t)->total_steps()) {
        auto m = (*t)->Step();
        ASSERT_TRUE(m.ok()) << "rank " << r << ": " << m.status();
        if (r == 0) run.losses.push_back(m->loss);
      }
      auto w = (*t)->FullParameters();
      ASSERT_TRUE(w.ok()) << w.status();
      if (r == 0) run.weights = *w;
    };
    ssd::OnRanks(world, rank_main);
    return run;
  }

  Run TrainOverGloo(const TrainerOptions& o, int world) {
    auto server = StoreServer::Start("127.0.0.1", 60);
    EXPECT_TRUE(server.ok()) << server.status();
    const int port = (*server)->port();
    return Train(o, world, [&](int r) -> std::unique_ptr<Collective> {
      GlooOptions g;
      g.rendezvous.rank = r;
      g.rendezvous.world_size = world;
      g.rendezvous.master_port = port;
      g.rendezvous.store_owner = StoreOwner::kExternal;
      g.rendezvous.timeout_s = 60;
      auto c = GlooCollective::Connect(g);
      EXPECT_TRUE(c.ok()) << c.status();
      return c.ok() ? std::move(*c) : nullptr;
    });
  }

  // max |a - b| over all tensors / max |b| over all tensors.
  static double RelativeDiff(const NamedTensors& a, const NamedTensors& b) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      EXPECT_EQ(a[i].first, b[i].first);
      diff = std::max(diff, (a[i].second - b[i].second).abs().max().item<double>());
      scale = std::max(scale, b[i].second.abs().max().item<double>());
    }
    return diff / scale;
  }

  // Runs `body(rank, trainer)` on `world` in-process ranks, each with a
  // trainer made from `o`; returns rank 0's trainer's gathered weights.
  template <typename Body>
  NamedTensors TrainOnRanks(const TrainerOptions& o, int world, Body body) {
    auto group = std::make_shared<InProcessGroup>(world);
    NamedTensors weights;
    auto rank_main = [&](int r) {
      InProcessCollective c(group, r);
      auto t = Trainer::FromModel(o, Model(), DatasetFromExamples(SyntheticExamples(97)), &c);
      ASSERT_TRUE(t.ok()) << "rank " << r << ": " << t.status();
      body(r, **t);
      auto w = (*t)->FullParameters();
      ASSERT_TRUE(w.ok()) << w.status();
      if (r == 0) weights = *w;
    };
    ssd::OnRanks(world, rank_main);
    return weights;
  }

  static void StepTo(Trainer& t, int64_t step) {
    while (t.step() < step) ASSERT_TRUE(t.Step().ok());
  }

  ScopedTempDir tmp_{"sharded_model_test"};
  std::string dir_ = tmp_.path();
};

TEST_F(ShardedModelTest, EveryModeAtWorldSizesTwoThreeAndFourOverGlooTrainsTheWeightsOfOneUnshardedRank) {
  const Run plain = Train(Options("plain"), 1, [](int) { return std::make_unique<SingleProcessCollective>(); });
  ASSERT_EQ(plain.losses.size(), 20u);
  for (ShardingMode mode : {ShardingMode::kOptimizer, ShardingMode::kGradients, ShardingMode::kFull}) {
    for (int world : {2, 3, 4}) {
      TrainerOptions o = Options(std::string(ShardingModeName(mode)) + std::to_string(world));
      o.sharding = mode;
      const Run sharded = TrainOverGloo(o, world);
      const std::string what = std::string(ShardingModeName(mode)) + " at world size " + std::to_string(world);
      ASSERT_EQ(sharded.losses.size(), plain.losses.size()) << what;
      for (size_t s = 0; s < plain.losses.size(); ++s) {
        EXPECT_NEAR(sharded.losses[s], plain.losses[s], 1e-6 * plain.losses[s]) << what << ", step " << s + 1;
      }
      const double diff = RelativeDiff(sharded.weights, plain.weights);
      EXPECT_LT(diff, 1e-6) << what;
      // The point of the comparison: training moved the weights far more.
      EXPECT_GT(RelativeDiff(Model()->Parameters(), plain.weights), 1e3 * std::max(diff, 1e-9)) << what;
    }
  }
}

TEST_F(ShardedModelTest, OverlappedLayerCollectivesGiveBitwiseTheLossesAndWeightsOfWaitingForEachInPlace) {
  for (ShardingMode mode : {ShardingMode::kGradients, ShardingMode::kFull}) {
    for (int every : {0, 2}) {
      const std::string what =
          std::string(ShardingModeName(mode)) + (every > 0 ? " with checkpointing every 2" : "") + " at world size 3";
      TrainerOptions o = Options(std::string(ShardingModeName(mode)) + "-overlap" + std::to_string(every));
      o.sharding = mode;
      o.activation_checkpointing.every = every;
      TrainerOptions inline_o = o;
      inline_o.out_dir += "-inline";
      inline_o.overlap_communication = false;
      const Run overlapped = TrainOverGloo(o, 3);
      const Run waited = TrainOverGloo(inline_o, 3);
      ASSERT_EQ(overlapped.losses.size(), 20u) << what;
      EXPECT_EQ(overlapped.losses, waited.losses) << what;
      ASSERT_EQ(overlapped.weights.size(), waited.weights.size()) << what;
      for (size_t i = 0; i < waited.weights.size(); ++i) {
        EXPECT_TRUE(at::equal(overlapped.weights[i].second, waited.weights[i].second))
            << what << ": " << waited.weights[i].first;
      }
    }
  }
}

TEST_F(ShardedModelTest, FullShardingWithActivationCheckpointingMatchesPlainTraining) {
  const Run plain = Train(Options("plain_ac"), 1, [](int) { return std::make_unique<SingleProcessCollective>(); });
  TrainerOptions o = Options("full_ac");
  o.sharding = ShardingMode::kFull;
  o.activation_checkpointing.every = 1;
  auto group = std::make_shared<InProcessGroup>(3);
  const Run sharded = Train(o, 3, [&](int r) { return std::make_unique<InProcessCollective>(group, r); });
  for (size_t s = 0; s < plain.losses.size(); ++s) {
    EXPECT_NEAR(sharded.losses[s], plain.losses[s], 1e-6 * plain.losses[s]) << "step " << s + 1;
  }
  EXPECT_LT(RelativeDiff(sharded.weights, plain.weights), 1e-6);
}

TEST_F(ShardedModelTest, UnitsArePaddedToAMultipleOfTheWorldSizeAndKeepTheDecayRule) {
  auto model = Model();
  const std::vector<FlatUnitLayout> units = PlanFlatUnits(*model, 3);
  ASSERT_EQ(units.size(), static_cast<size_t>(model->config().num_hidden_layers) + 1);
  EXPECT_EQ(units[0].name, "layers.0");
  EXPECT_EQ(units.back().name, "root");
  int64_t total = 0;
  for (const FlatUnitLayout& u : units) {
    EXPECT_EQ(u.padded % 3, 0) << u.name;
    EXPECT_GE(u.padded, u.numel) << u.name;
    EXPECT_LT(u.padded - u.numel, 3) << u.name;
    int64_t at = 0;
    for (const FlatParam& p : u.params) {
      EXPECT_EQ(p.offset, at) << p.name;
      at += p.numel;
      EXPECT_EQ(p.decayed, p.shape.size() >= 2 && p.name.find("norm") == std::string::npos) << p.name;
    }
    EXPECT_EQ(at, u.numel);
    total += u.numel;
  }
  int64_t params = 0;
  for (const auto& [name, p] : model->Parameters()) params += p.numel();
  EXPECT_EQ(total, params);
}

TEST_F(ShardedModelTest, FullShardingHoldsAQuarterOfTheModelStateAtWorldSizeFour) {
  auto group = std::make_shared<InProcessGroup>(4);
  std::vector<int64_t> bytes(4);
  auto rank_main = [&](int r) {
    InProcessCollective c(group, r);
    auto model = Model();
    auto sharded = ShardedModel::Create(*model, ShardingMode::kFull, c, AdamWOptions());
    ASSERT_TRUE(sharded.ok()) << sharded.status();
    bytes[r] = (*sharded)->ModelStateBytes();
  };
  ssd::OnRanks(4, rank_main);
  int64_t params = 0;
  for (const auto& [name, p] : Model()->Parameters()) params += p.numel();
  // master, gradient shard, two moments and the update's scratch, 4 bytes
  // each, over 4 ranks; plus the root's gradient buffer, kept whole.
  for (int r = 0; r < 4; ++r) {
    EXPECT_LT(bytes[r], 20 * params / 4 + 4 * params) << "rank " << r;
    EXPECT_GE(bytes[r], 20 * params / 4) << "rank " << r;
  }
}

TEST_F(ShardedModelTest, ThePlannersModelStateIsWhatEachModeAllocates) {
  for (const char* dtype : {"fp32", "bf16"}) {
    for (ShardingMode mode : {ShardingMode::kOptimizer, ShardingMode::kGradients, ShardingMode::kFull}) {
      auto group = std::make_shared<InProcessGroup>(4);
      std::vector<int64_t> bytes(4);
      auto rank_main = [&](int r) {
        InProcessCollective c(group, r);
        auto model = Model();
        auto sharded = ShardedModel::Create(*model, mode, c, AdamWOptions(),
                                            std::string(dtype) == "bf16" ? at::kBFloat16 : at::kFloat);
        ASSERT_TRUE(sharded.ok()) << sharded.status();
        bytes[r] = (*sharded)->ModelStateBytes();
      };
      ssd::OnRanks(4, rank_main);
      MemoryPlanOptions o;
      o.world_size = 4;
      o.sharding = mode;
      o.param_dtype = dtype;
      o.max_seq_len = 32;
      o.micro_batch_tokens = 64;
      const MemoryPlan plan = PlanMemory(TinyConfig(ModelArch::kQwen3), o).value();
      EXPECT_EQ(bytes[0], plan.parameters + plan.gradients + plan.optimizer) << ShardingModeName(mode) << " " << dtype;
    }
  }
}

TEST_F(ShardedModelTest, Bf16GatheredParametersTrackFp32TrainingWithFp32MastersAndAreHalfTheBytesKeptWhole) {
  const Run plain = Train(Options("plain_bf16ref"), 1, [](int) { return std::make_unique<SingleProcessCollective>(); });
  for (ShardingMode mode : {ShardingMode::kOptimizer, ShardingMode::kFull}) {
    TrainerOptions o = Options(std::string("bf16_") + ShardingModeName(mode));
    o.sharding = mode;
    o.param_dtype = "bf16";
    const Run mixed = TrainOverGloo(o, 2);  // Gloo has no bf16 kernels: the gather must still work
    ASSERT_EQ(mixed.losses.size(), plain.losses.size());
    double worst = 0;
    for (size_t s = 0; s < plain.losses.size(); ++s) {
      worst = std::max(worst, std::abs(mixed.losses[s] - plain.losses[s]) / plain.losses[s]);
    }
    // bf16 matmuls move each step's loss well under a percent; a few
    // percent once the updates compound.
    EXPECT_LT(worst, 0.03) << ShardingModeName(mode);
    EXPECT_GT(worst, 0) << "bf16 changed nothing: the parameters were not gathered in bf16";
    EXPECT_LT(mixed.losses.back(), 0.9 * mixed.losses.front());
    // The weights the run ends with are its fp32 masters.
    for (const auto& [name, w] : mixed.weights) EXPECT_EQ(w.scalar_type(), at::kFloat) << name;
    EXPECT_LT(RelativeDiff(mixed.weights, plain.weights), 0.05) << ShardingModeName(mode);
  }
  TrainerOptions none = Options("bf16_unsharded");
  none.param_dtype = "bf16";
  auto t = Trainer::FromModel(none, Model(), DatasetFromExamples(SyntheticExamples(97)), nullptr);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("--param-dtype"), std::string::npos) << t.status();
}

TEST_F(ShardedModelTest, ResumingAShardedCheckpointAtTheSameWorldSizeIsBitwise) {
  TrainerOptions o = Options("straight");
  o.sharding = ShardingMode::kFull;
  const NamedTensors straight = TrainOnRanks(o, 2, [](int, Trainer& t) { StepTo(t, 20); });
  o.out_dir = dir_ + "/resumed";
  TrainOnRanks(o, 2, [](int, Trainer& t) {
    StepTo(t, 9);
    ASSERT_TRUE(t.SaveCheckpoint().ok());
    StepTo(t, 12);  // lost with the crash
  });
  ASSERT_TRUE(IsShardedCheckpoint(o.out_dir + "/checkpoints/step-00000009"));
  o.resume = true;
  const NamedTensors resumed = TrainOnRanks(o, 2, [](int, Trainer& t) {
    EXPECT_EQ(t.step(), 9);
    StepTo(t, 20);
  });
  ASSERT_EQ(resumed.size(), straight.size());
  for (size_t i = 0; i < straight.size(); ++i) {
    EXPECT_TRUE(at::equal(resumed[i].second, straight[i].second)) << straight[i].first;
  }
}

TEST_F(ShardedModelTest, ACheckpointResumesAtAnotherWorldSizeByResharding) {
  for (auto [from, to] : {std::pair<int, int>{4, 2}, std::pair<int, int>{2, 3}}) {
    const std::string tag = std::to_string(from) + "to" + std::to_string(to);
    TrainerOptions o = Options("reshard" + tag);
    o.sharding = ShardingMode::kFull;
    const NamedTensors straight = TrainOnRanks(o, from, [](int, Trainer& t) {
      StepTo(t, 10);
      ASSERT_TRUE(t.SaveCheckpoint().ok());
      StepTo(t, 20);
      ASSERT_TRUE(t.SaveCheckpoint().ok());
    });
    o.resume = true;
    o.sharding = ShardingMode::kGradients;  // the shards do not depend on the mode
    const NamedTensors resharded = TrainOnRanks(o, to, [](int, Trainer& t) {
      EXPECT_EQ(t.step(), 20);  // latest is the end of the first run
    });
    EXPECT_EQ(RelativeDiff(resharded, straight), 0.0) << tag << ": the final checkpoint reloads exactly";
    // From the middle: step 10's checkpoint, continued at the new size.
    std::filesystem::remove_all(o.out_dir + "/checkpoints/step-00000020");
    std::filesystem::remove(o.out_dir + "/checkpoints/latest");
    std::filesystem::create_directory_symlink("step-00000010", o.out_dir + "/checkpoints/latest");
    const NamedTensors continued = TrainOnRanks(o, to, [](int, Trainer& t) {
      EXPECT_EQ(t.step(), 10);
      StepTo(t, 20);
    });
    EXPECT_LT(RelativeDiff(continued, straight), 1e-6) << tag;
  }
}

TEST_F(ShardedModelTest, TheFinalModelIsWrittenOneUnitPerFileAndLoadsAsTheGatheredWeights) {
  TrainerOptions o = Options("export");
  o.sharding = ShardingMode::kFull;
  o.max_steps = 4;
  NamedTensors hf;
  TrainOnRanks(o, 3, [&](int r, Trainer& t) {
    ASSERT_TRUE(t.Run().ok());
    auto gathered = t.sharded()->GatherParameters(at::kCPU);
    ASSERT_TRUE(gathered.ok());
  });
  const std::string model_dir = o.out_dir + "/model";
  ASSERT_TRUE(std::filesystem::exists(model_dir + "/model.safetensors.index.json"));
  auto loaded = Decoder::Load(model_dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  // The same run unsharded writes the same weights (up to summation order).
  TrainerOptions plain = Options("export_plain");
  plain.max_steps = 4;
  auto single = Trainer::FromModel(plain, Model(), DatasetFromExamples(SyntheticExamples(97)), nullptr);
  ASSERT_TRUE(single.ok());
  ASSERT_TRUE((*single)->Run().ok());
  EXPECT_LT(RelativeDiff((*loaded)->Parameters(), (*single)->model().Parameters()), 1e-6);
}

TEST_F(ShardedModelTest, AMissingOrTruncatedShardOrAnUnshardedResumeIsRefusedNamingTheFile) {
  TrainerOptions o = Options("broken");
  o.sharding = ShardingMode::kOptimizer;
  TrainOnRanks(o, 2, [](int, Trainer& t) {
    StepTo(t, 3);
    ASSERT_TRUE(t.SaveCheckpoint().ok());
  });
  const std::string ckpt = o.out_dir + "/checkpoints/step-00000003";
  const std::string shard1 = ckpt + "/shards/rank-00001-of-00002.safetensors";
  ASSERT_TRUE(std::filesystem::exists(shard1));
  std::vector<FlatUnitLayout> layout = PlanFlatUnits(*Model(), 2);

  std::filesystem::resize_file(shard1, std::filesystem::file_size(shard1) - 8);
  auto truncated = LoadShardedState(ckpt, layout, 0, 2);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("rank-00001-of-00002.safetensors"), std::string::npos)
      << truncated.status();
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos) << truncated.status();

  std::filesystem::remove(shard1);
  auto missing = LoadShardedState(ckpt, layout, 0, 2);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("rank-00001-of-00002.safetensors: missing"), std::string::npos)
      << missing.status();

  // Another architecture: a model with one layer fewer.
  ModelConfig smaller = TinyConfig(ModelArch::kQwen3);
  smaller.num_hidden_layers -= 1;
  auto other = LoadShardedState(ckpt, PlanFlatUnits(*Decoder::RandomInit(smaller, 1).value(), 2), 0, 2);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("shard_manifest.json"), std::string::npos) << other.status();

  TrainerOptions unsharded = o;
  unsharded.sharding = ShardingMode::kNone;
  unsharded.resume = true;
  auto t = Trainer::FromModel(unsharded, Model(), DatasetFromExamples(SyntheticExamples(97)), nullptr);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("is sharded"), std::string::npos) << t.status();
}

}  // namespace
}  // namespace ssd
