#include "common/model/activation_checkpointing.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/model/checkpointed_layer.h"
#include "common/model/decoder.h"
#include "common/model/test_models.h"

namespace ssd {
namespace {

ActivationCheckpointing Every(int n) {
  ActivationCheckpointing a;
  a.every = n;
  return a;
}

TEST(ActivationCheckpointingTest, ParsesNoneFullAndEveryNAndNamesTheFieldOtherwise) {
  EXPECT_EQ(ActivationCheckpointing::Parse("none", "f")->every, 0);
  EXPECT_EQ(ActivationCheckpointing::Parse("full", "f")->every, 1);
  EXPECT_EQ(ActivationCheckpointing::Parse("every:3", "f")->every, 3);
  for (const char* name : {"none", "full", "every:3"}) {
    EXPECT_EQ(ActivationCheckpointing::Parse(name, "f")->Name(), name);
  }
  EXPECT_EQ(ActivationCheckpointing::Parse("every:1", "f")->Name(), "full");
  for (const char* bad : {"", "Full", "every:", "every:0", "every:-2", "every:2x", "some"}) {
    auto r = ActivationCheckpointing::Parse(bad, "train.activation_checkpointing");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("train.activation_checkpointing: must be none, full or every:N"),
              std::string::npos)
        << r.status();
  }
}

TEST(ActivationCheckpointingTest, EveryNCountsLayersFromOne) {
  std::vector<int64_t> picked;
  for (int64_t i = 0; i < 8; ++i) {
    if (Every(3).Checkpoints(i)) picked.push_back(i);
  }
  EXPECT_EQ(picked, (std::vector<int64_t>{2, 5}));
  EXPECT_FALSE(Every(0).Checkpoints(0));
  for (int64_t i = 0; i < 4; ++i) EXPECT_TRUE(Every(1).Checkpoints(i));
}

// Gradients of one forward and backward through a 4-layer decoder over two
// packed rows (three documents and padding).
struct Grads {
  at::Tensor hidden;
  std::vector<at::Tensor> params;
};

Grads OneBackward(const Decoder& model, const ActivationCheckpointing& ac) {
  at::manual_seed(4);
  const int64_t T = 24;
  at::Tensor ids = at::randint(model.config().vocab_size, {2, T}, at::kLong);
  const AttentionLayout layout = AttentionLayout::Packed({{10, 9}, {20}}, T);
  at::Tensor probe = at::randn({2, T, model.config().hidden_size});
  for (auto& [name, p] : model.Parameters()) {
    p.requires_grad_(true);
    p.mutable_grad() = at::Tensor();
  }
  at::Tensor hidden = model.ForwardHidden(ids, layout, ac);
  (hidden * probe).sum().backward();
  Grads g;
  g.hidden = hidden.detach().clone();
  for (auto& [name, p] : model.Parameters()) g.params.push_back(p.grad().clone());
  return g;
}

TEST(ActivationCheckpointingTest, FullAndEveryTwoGiveBitwiseTheGradientsOfNone) {
  at::set_num_threads(2);  // the recompute must also agree with several threads
  ModelConfig c = TinyConfig(ModelArch::kQwen3);
  c.num_hidden_layers = 4;
  auto model = Decoder::RandomInit(c, 9).value();
  const Grads none = OneBackward(*model, Every(0));
  for (int every : {1, 2}) {
    const Grads checkpointed = OneBackward(*model, Every(every));
    EXPECT_TRUE(at::equal(checkpointed.hidden, none.hidden)) << "every " << every;
    ASSERT_EQ(checkpointed.params.size(), none.params.size());
    const auto names = model->Parameters();
    for (size_t i = 0; i < none.params.size(); ++i) {
      EXPECT_TRUE(at::equal(checkpointed.params[i], none.params[i]))
          << names[i].first << " with every " << every << ": max diff "
          << (checkpointed.params[i] - none.params[i]).abs().max().item<double>();
    }
  }
}

TEST(ActivationCheckpointingTest, AnInputGradientFlowsThroughACheckpointedLayerWithoutParameters) {
  at::Tensor x = at::randn({3, 5}).requires_grad_(true);
  at::Tensor y = CheckpointedLayer([](const at::Tensor& in) { return (in * in).sin(); }, x);
  y.sum().backward();
  at::Tensor expected = 2 * x.detach() * (x.detach() * x.detach()).cos();
  EXPECT_TRUE(at::allclose(x.grad(), expected));
}

TEST(ActivationCheckpointingTest, ASecondBackwardThroughTheSameGraphIsAClearErrorNotACrash) {
  at::Tensor x = at::randn({3, 5}).requires_grad_(true);
  at::Tensor y = CheckpointedLayer([](const at::Tensor& in) { return in.sin(); }, x).sum();
  y.backward({}, /*retain_graph=*/true);
  try {
    y.backward();
    ADD_FAILURE() << "the second backward went through";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("a checkpointed layer's backward ran twice"), std::string::npos) << e.what();
  }
}

TEST(ActivationCheckpointingTest, WithoutGradientsTheLayerRunsPlainlyAndBuildsNoGraph) {
  at::NoGradGuard no_grad;
  at::Tensor w = at::randn({4, 4}).requires_grad_(true);
  int calls = 0;
  at::Tensor y = CheckpointedLayer(
      [&](const at::Tensor& in) {
        ++calls;
        return at::matmul(in, w);
      },
      at::randn({2, 4}));
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(y.requires_grad());
}

}  // namespace
}  // namespace ssd
