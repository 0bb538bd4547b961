// Training a qwen3_moe model: one step's loss and gradients against the
// independent PyTorch reference (tests/reference/hf_reference.py moe-step,
// written from transformers' load_balancing_loss_func and Megatron's switch
// loss) with each aux loss, data parallelism, and the expert-load metrics.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/model/checkpoint.h"
#include "common/model/router_trace.h"
#include "common/model/test_models.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"
#include "trainer_worker/in_process_collective.h"
#include "trainer_worker/test_examples.h"
#include "trainer_worker/trainer.h"

namespace ssd {
namespace {

ModelConfig MoeConfig(bool norm_topk_prob, bool sparse) {
  ModelConfig c = TinyConfig(ModelArch::kQwen3Moe);
  c.moe.norm_topk_prob = norm_topk_prob;
  if (sparse) {
    // 4 layers, decoder_sparse_step 2, layer 3 dense: layer 1 alone is MoE.
    c.num_hidden_layers = 4;
    c.moe.decoder_sparse_step = 2;
    c.moe.mlp_only_layers = {3};
  }
  return c;
}

class MoeTrainingTest : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(1); }

  // One conversation of 20 tokens whose last 14 are trained.
  static TokenizedExample Example() {
    TokenizedExample ex;
    for (int t = 0; t < 20; ++t) {
      ex.ids.push_back((t * 37 + 11) % 97);
      ex.loss_mask.push_back(t >= 6 ? 1 : 0);
    }
    ex.line = 1;
    return ex;
  }

  TrainerOptions OneStep(const std::string& out, const std::string& aux, double coef) const {
    TrainerOptions o;
    o.out_dir = dir_ + "/" + out;
    o.max_seq_len = 32;
    o.batching.micro_batch_tokens = 32;
    o.batching.batch_tokens = 32;
    o.lr = 1e-3;
    o.grad_clip = 0;
    o.progress = false;
    o.router_aux_loss = aux;
    o.router_aux_loss_coef = coef;
    return o;
  }

  ScopedTempDir tmp_{"moe_training_test"};
  std::string dir_ = tmp_.path();
};

// max |a - b| / max |b|.
double Relative(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

TEST_F(MoeTrainingTest, StepLossAndGradientsMatchTheReferenceWithEachAuxLoss) {
  struct Case {
    bool norm, sparse;
    const char* aux;
  };
  // A large coefficient, so the aux loss's share of the gradient is visible
  // at the tolerance.
  const double coef = 0.5;
  for (const Case& k : {Case{true, false, "off"}, Case{true, false, "hf"}, Case{true, false, "per_layer"},
                        Case{false, true, "hf"}, Case{false, true, "per_layer"}}) {
    const std::string name = absl::StrCat(k.aux, k.norm ? "_norm" : "_raw", k.sparse ? "_sparse" : "");
    SCOPED_TRACE(name);
    const ModelConfig config = MoeConfig(k.norm, k.sparse);
    auto model = Decoder::RandomInit(config, /*seed=*/5, /*init_std=*/0.3).value();
    const std::string model_dir = dir_ + "/model_" + name;
    SaveOptions save;
    ASSERT_TRUE(SaveHfCheckpoint(model_dir, config, model->HfNamedTensors(), save).ok());

    const TokenizedExample ex = Example();
    const std::string grads_path = dir_ + "/grads_" + name + ".safetensors";
    ProcessResult py = RunProcess({"/usr/bin/python3", SourceDir() + "/tests/reference/hf_reference.py", "moe-step",
                                   "--model", model_dir, "--ids", absl::StrJoin(ex.ids, ","), "--prompt-len", "6",
                                   "--aux-loss", k.aux, "--coef", std::to_string(coef), "--grads", grads_path});
    ASSERT_EQ(py.exit_code, 0) << py.err;
    const nlohmann::json ref = nlohmann::json::parse(py.out);

    // The loss of one real step.
    auto trainer = Trainer::FromModel(OneStep("step_" + name, k.aux, coef),
                                      Decoder::RandomInit(config, 5, 0.3).value(), DatasetFromExamples({ex}), nullptr);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    auto m = (*trainer)->Step();
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_NEAR(m->loss, ref["loss"].get<double>(), 1e-5 * ref["loss"].get<double>());
    EXPECT_NEAR(m->aux_loss, ref["aux"].get<double>(), 1e-5 * std::max(1.0, ref["aux"].get<double>()));
    if (std::string(k.aux) != "off") EXPECT_GT(m->aux_loss, 0.5) << "the aux loss should be near its balance value";

    // Its gradients, through the trainer's own micro-batch path.
    for (auto& [n, p] : model->Parameters()) p.requires_grad_(true);
    MicroBatchSpec spec;
    spec.rows = {{0}};
    BatchPlanOptions bo;
    bo.row_tokens = 32;
    bo.micro_batch_tokens = 32;
    bo.batch_tokens = 32;
    const MicroBatch mb = Materialize(spec, {ex}, bo);
    RouterTrace trace(config, ParseRouterAuxLoss(k.aux).value(), coef, RealTokenMask(mb));
    at::Tensor loss = MicroBatchLossSum(*model, mb, BatchingMode::kPacked, 0, {}, nullptr, &trace);
    (loss / static_cast<double>(mb.loss_tokens)).backward();

    std::map<std::string, at::Tensor> ref_grads;
    {
      // The reference writes one safetensors file of HF-named gradients;
      // the decoder fuses them as it fuses weights, so they line up with
      // its parameters by name.
      const std::string ref_dir = dir_ + "/refgrads_" + name;
      ASSERT_EQ(RunProcess({"mkdir", "-p", ref_dir}).exit_code, 0);
      ASSERT_EQ(RunProcess({"cp", grads_path, ref_dir + "/model.safetensors"}).exit_code, 0);
      auto loaded = LoadHfWeights(ref_dir, config, at::kFloat, at::kCPU);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      ref_grads = *loaded;
    }
    auto ref_model = Decoder::FromHfWeights(config, ref_grads);
    ASSERT_TRUE(ref_model.ok()) << ref_model.status();
    const NamedTensors ours = model->Parameters(), theirs = (*ref_model)->Parameters();
    ASSERT_EQ(ours.size(), theirs.size());
    for (size_t i = 0; i < ours.size(); ++i) {
      ASSERT_TRUE(ours[i].second.grad().defined()) << ours[i].first << " got no gradient";
      EXPECT_LT(Relative(ours[i].second.grad(), theirs[i].second), 1e-4) << ours[i].first;
    }
  }
}

// transformers#45120 fed softmaxed probabilities into the aux loss; it must
// take the raw logits.
TEST_F(MoeTrainingTest, HfAuxLossIsComputedFromTheRawRouterLogits) {
  ModelConfig c = TinyConfig(ModelArch::kQwen3Moe);
  c.moe.mlp_only_layers = {0, 2};  // one MoE layer
  const int64_t R = 12, E = c.moe.num_experts, k = c.moe.num_experts_per_tok;
  at::manual_seed(1);
  at::Tensor logits = 3 * at::randn({R, E});
  auto aux_of = [&](const at::Tensor& z) {
    at::Tensor p = at::softmax(z, -1);
    at::Tensor chosen = std::get<1>(at::topk(p, k));
    at::Tensor f = at::one_hot(chosen, E).to(at::kFloat).mean(0);  // [k, E]
    return E * (f * p.mean(0).unsqueeze(0)).sum().item<double>();
  };
  RouterTrace trace(c, RouterAuxLoss::kHf, 1.0, at::ones({R}, at::kBool));
  at::Tensor probs = at::softmax(logits, -1);
  trace.Observe(1, logits, probs, std::get<1>(at::topk(probs, k)));
  EXPECT_NEAR(trace.AuxLoss(), aux_of(logits), 1e-6);
  EXPECT_GT(std::abs(trace.AuxLoss() - aux_of(at::softmax(logits, -1))), 1e-3)
      << "the aux loss does not tell raw logits from probabilities";
}

TEST_F(MoeTrainingTest, TwoRanksMatchOneRank) {
  auto make = [&](const std::string& out, Collective* coll) {
    TrainerOptions o = SyntheticTrainerOptions(dir_ + "/" + out);
    o.max_steps = 8;
    o.router_aux_loss = "hf";
    o.router_aux_loss_coef = 0.1;
    auto t = Trainer::FromModel(o, Decoder::RandomInit(TinyConfig(ModelArch::kQwen3Moe), 5).value(),
                                DatasetFromExamples(SyntheticExamples(97)), coll);
    EXPECT_TRUE(t.ok()) << t.status();
    return std::move(*t);
  };
  auto single = make("dp1", nullptr);
  std::vector<StepMetrics> one;
  while (single->step() < single->total_steps()) one.push_back(single->Step().value());

  auto group = std::make_shared<InProcessGroup>(2);
  InProcessCollective c0(group, 0), c1(group, 1);
  auto r0 = make("dp2", &c0), r1 = make("dp2", &c1);
  std::vector<StepMetrics> two;
  std::thread peer([&] {
    while (r1->step() < r1->total_steps()) ASSERT_TRUE(r1->Step().ok());
  });
  while (r0->step() < r0->total_steps()) two.push_back(r0->Step().value());
  peer.join();

  ASSERT_EQ(one.size(), two.size());
  for (size_t s = 0; s < one.size(); ++s) {
    EXPECT_NEAR(two[s].loss, one[s].loss, 1e-5 * one[s].loss) << "step " << s;
    EXPECT_NEAR(two[s].aux_loss, one[s].aux_loss, 1e-5 * one[s].aux_loss) << "step " << s;
    ASSERT_EQ(two[s].expert_load.size(), one[s].expert_load.size());
    for (size_t l = 0; l < one[s].expert_load.size(); ++l) {
      EXPECT_EQ(two[s].expert_load[l].counts, one[s].expert_load[l].counts) << "step " << s << " layer " << l;
    }
  }
  const NamedTensors a = r0->model().Parameters(), b = single->model().Parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LT(Relative(a[i].second, b[i].second), 1e-5) << a[i].first;
}

// A router of zeros gives every expert the same probability: every token
// then picks the same k experts, the collapse users report. The metrics
// must show it; a random router must not.
TEST_F(MoeTrainingTest, CollapsedRouterShowsAsImbalanceInMetricsJsonl) {
  for (bool collapse : {false, true}) {
    TrainerOptions o = SyntheticTrainerOptions(dir_ + (collapse ? "/collapsed" : "/healthy"));
    o.max_steps = 1;  // the metrics of a step are of the router before its update
    auto model = Decoder::RandomInit(TinyConfig(ModelArch::kQwen3Moe), 5, 0.3).value();
    if (collapse) {
      at::NoGradGuard no_grad;
      for (auto& [name, p] : model->Parameters()) {
        if (name.find("router_weight") != std::string::npos) p.zero_();
      }
    }
    auto t = Trainer::FromModel(o, std::move(model), DatasetFromExamples(SyntheticExamples(97)), nullptr);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Run().ok());
    std::ifstream in(o.out_dir + "/metrics.jsonl");
    std::string line, last;
    while (std::getline(in, line)) last = line;
    const nlohmann::json m = nlohmann::json::parse(last);
    ASSERT_TRUE(m.contains("expert_load")) << last;
    ASSERT_EQ(m["expert_load"].size(), 2u) << "layers 1 and 2 are MoE";
    for (const auto& layer : m["expert_load"]) {
      double total = 0;
      for (double f : layer["fractions"]) total += f;
      EXPECT_NEAR(total, 1.0, 1e-4);
      const double imbalance = layer["max_over_mean"];
      if (collapse) {
        // E / k = 4: two experts take every choice, six take none.
        EXPECT_DOUBLE_EQ(imbalance, 4.0) << layer.dump();
        EXPECT_EQ(layer["dead_experts"], 6) << layer.dump();
      } else {
        EXPECT_LT(imbalance, 2.5) << layer.dump();
        EXPECT_LE(layer["dead_experts"].get<int>(), 1) << layer.dump();
      }
    }
    EXPECT_TRUE(m.contains("aux_loss") && m.contains("ce_loss")) << last;
  }
}

}  // namespace
}  // namespace ssd
