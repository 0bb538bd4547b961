#include "trainer_worker/adamw.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>

namespace ssd {
namespace {

// The AdamW update for one scalar, in double, written from the paper's
// formula (decoupled decay, bias-corrected moments).
struct ScalarAdamW {
  double p, m = 0, v = 0;
  int t = 0;
  void Step(double g, double lr, double b1, double b2, double eps, double wd) {
    ++t;
    p -= lr * wd * p;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double mhat = m / (1 - std::pow(b1, t)), vhat = v / (1 - std::pow(b2, t));
    p -= lr * mhat / (std::sqrt(vhat) + eps);
  }
};

TEST(AdamWTest, DecaysMatricesButNeverNormsOrBiases) {
  EXPECT_TRUE(IsDecayed("layers.0.qkv_weight", at::zeros({4, 4})));
  EXPECT_TRUE(IsDecayed("embed_tokens", at::zeros({4, 4})));
  EXPECT_FALSE(IsDecayed("layers.0.input_norm", at::zeros({4})));
  EXPECT_FALSE(IsDecayed("layers.0.qkv_bias", at::zeros({4})));
  EXPECT_FALSE(IsDecayed("final_norm", at::zeros({4})));
}

TEST(AdamWTest, MatchesTheScalarFormulaOverSeveralSteps) {
  AdamWOptions o;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  o.weight_decay = 0.1;
  at::Tensor w = at::tensor({0.5f, -1.0f, 2.0f, 0.25f}).view({2, 2}).requires_grad_(true);
  at::Tensor n = at::tensor({1.0f, 1.5f}).requires_grad_(true);
  AdamW opt({{"w", w}, {"norm", n}}, o);
  std::vector<ScalarAdamW> ref_w, ref_n;
  for (int i = 0; i < 4; ++i) ref_w.push_back({w.view(-1)[i].item<double>()});
  for (int i = 0; i < 2; ++i) ref_n.push_back({n[i].item<double>()});
  const double lrs[] = {1e-2, 5e-3, 2e-2};
  for (int step = 0; step < 3; ++step) {
    at::Tensor gw = at::tensor({0.1f * (step + 1), -0.2f, 0.3f, -0.05f * step}).view({2, 2});
    at::Tensor gn = at::tensor({0.01f, -0.4f * (step + 1)});
    w.mutable_grad() = gw;
    n.mutable_grad() = gn;
    opt.Step(lrs[step]);
    for (int i = 0; i < 4; ++i) ref_w[i].Step(gw.view(-1)[i].item<double>(), lrs[step], 0.9, 0.95, 1e-8, 0.1);
    for (int i = 0; i < 2; ++i) ref_n[i].Step(gn[i].item<double>(), lrs[step], 0.9, 0.95, 1e-8, 0.0);
  }
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(w.view(-1)[i].item<double>(), ref_w[i].p, 1e-6) << i;
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(n[i].item<double>(), ref_n[i].p, 1e-6) << i;
  EXPECT_EQ(opt.steps(), 3);
}

TEST(AdamWTest, RestoredStateContinuesBitwiseLikeTheOriginal) {
  auto make = [] { return at::arange(6, at::kFloat).view({2, 3}).requires_grad_(true); };
  at::Tensor a = make(), b = make();
  AdamWOptions o;
  o.weight_decay = 0.01;
  AdamW first({{"p", a}}, o);
  for (int s = 0; s < 3; ++s) {
    a.mutable_grad() = at::sin(at::arange(6, at::kFloat).view({2, 3}) * (s + 1));
    first.Step(1e-2);
  }
  // A second optimizer picks up the state (and the weights) mid-run.
  std::map<std::string, at::Tensor> state;
  for (auto& [name, t] : first.StateTensors()) state[name] = t.clone();
  {
    at::NoGradGuard ng;
    b.copy_(a);
  }
  AdamW second({{"p", b}}, o);
  ASSERT_TRUE(second.LoadState(state, first.steps()).ok());
  at::Tensor g = at::cos(at::arange(6, at::kFloat).view({2, 3}));
  a.mutable_grad() = g;
  b.mutable_grad() = g.clone();
  first.Step(3e-3);
  second.Step(3e-3);
  EXPECT_TRUE(at::equal(a, b));
}

TEST(AdamWTest, LoadStateNamesAMissingOrMisshapenTensor) {
  at::Tensor p = at::zeros({2, 2}).requires_grad_(true);
  AdamW opt({{"layers.0.o_weight", p}}, {});
  absl::Status missing = opt.LoadState({}, 1);
  EXPECT_NE(missing.message().find("exp_avg.layers.0.o_weight"), std::string::npos) << missing;
  absl::Status shape = opt.LoadState(
      {{"exp_avg.layers.0.o_weight", at::zeros({3})}, {"exp_avg_sq.layers.0.o_weight", at::zeros({2, 2})}}, 1);
  EXPECT_NE(shape.message().find("has shape [3]"), std::string::npos) << shape;
}

TEST(AdamWOptionsTest, ValidateNamesTheBadField) {
  AdamWOptions o;
  o.beta2 = 1.0;
  EXPECT_NE(o.Validate().message().find("beta2"), std::string::npos);
  o = {};
  o.weight_decay = -1;
  EXPECT_NE(o.Validate().message().find("weight_decay"), std::string::npos);
}

}  // namespace
}  // namespace ssd
