// ssd plan's activation terms (memory_plan.h) against the bytes libtorch's
// allocator holds live during a real forward and backward of the trainer's
// decoder and loss: the plan must price what the trainer takes, for each
// checkpointing setting and for a model with and without q/k norms.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <cstdio>
#include <memory>
#include <string>

#include "common/model/decoder.h"
#include "common/model/test_models.h"
#include "gtest/gtest.h"
#include "tests/testing/tensor_bytes.h"
#include "trainer_worker/memory_plan.h"
#include "trainer_worker/trainer.h"

namespace ssd {
namespace {

struct Case {
  std::string name;
  ModelArch arch;
  int64_t hidden, intermediate, heads, kv_heads, head_dim, layers;
  int every;  // activation checkpointing: 0 none, 1 full, N every N
  int64_t experts = 0, top_k = 0, expert_intermediate = 0;  // qwen3_moe
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) { return info.param.name; }

class PlannedActivationsTest : public ::testing::TestWithParam<Case> {};

TEST_P(PlannedActivationsTest, AreWithinFifteenPercentOfTheLiveTensorBytesOfAStep) {
  const Case& k = GetParam();
  at::set_num_threads(2);
  ModelConfig c = TinyConfig(k.arch);
  c.vocab_size = 4096;
  c.hidden_size = k.hidden;
  c.intermediate_size = k.intermediate;
  c.num_attention_heads = k.heads;
  c.num_key_value_heads = k.kv_heads;
  c.head_dim = k.head_dim;
  c.num_hidden_layers = k.layers;
  c.max_position_embeddings = 4096;
  if (k.arch == ModelArch::kQwen3Moe) {
    c.moe.num_experts = k.experts;
    c.moe.num_experts_per_tok = k.top_k;
    c.moe.moe_intermediate_size = k.expert_intermediate;
    c.moe.mlp_only_layers = {};
  }
  constexpr int64_t T = 2048;  // past the 512-token tiles: blockwise attention

  TensorBytesTracker tensors;
  std::unique_ptr<Decoder> model = Decoder::RandomInit(c, 1, 0.02).value();
  for (auto& [name, p] : model->Parameters()) {
    p.requires_grad_(true);
    p.mutable_grad() = at::zeros_like(p);  // the trainer's gradient buffers
  }
  at::manual_seed(3);
  const at::Tensor ids = at::randint(c.vocab_size, {1, T}, at::kLong);
  at::Tensor targets = ids.roll(-1, 1).clone();
  targets[0][T - 1] = kIgnoreTarget;
  const AttentionLayout layout = AttentionLayout::Packed({{T}}, T);
  ActivationCheckpointing ac;
  ac.every = k.every;

  const int64_t before = tensors.current();
  tensors.ResetPeak();
  {
    at::AutoGradMode grad(true);
    at::Tensor loss = TokenLossSum(*model, model->ForwardHidden(ids, layout, ac), targets);
    loss.backward();
  }
  const double measured = static_cast<double>(tensors.peak() - before);

  MemoryPlanOptions o;
  o.max_seq_len = T;
  o.micro_batch_tokens = T;
  o.activation_checkpointing.every = k.every;
  const MemoryPlan plan = PlanMemory(c, o).value();
  const double planned = static_cast<double>(plan.activations + plan.logits + plan.attention - plan.not_at_once);
  std::printf("%s: planned %.1f MiB, live %.1f MiB, %.3fx\n", k.name.c_str(), planned / (1 << 20),
              measured / (1 << 20), planned / measured);
  EXPECT_NEAR(planned / measured, 1.0, 0.15)
      << "planned " << planned / (1 << 20) << " MiB (activations " << plan.activations / (1 << 20) << ", logits "
      << plan.logits / (1 << 20) << ", attention " << plan.attention / (1 << 20) << ", not at once "
      << plan.not_at_once / (1 << 20) << ") against "
      << measured / (1 << 20) << " MiB live at the step's peak";
}

INSTANTIATE_TEST_SUITE_P(
    Settings, PlannedActivationsTest,
    ::testing::Values(Case{"Qwen3None", ModelArch::kQwen3, 256, 768, 4, 2, 64, 4, 0},
                      Case{"Qwen3Full", ModelArch::kQwen3, 256, 768, 4, 2, 64, 4, 1},
                      Case{"Qwen3EveryTwo", ModelArch::kQwen3, 256, 768, 4, 2, 64, 4, 2},
                      Case{"LlamaNone", ModelArch::kLlama, 192, 640, 6, 2, 48, 3, 0},
                      Case{"LlamaFull", ModelArch::kLlama, 192, 640, 6, 2, 48, 3, 1},
                      Case{"Qwen3MoeNone", ModelArch::kQwen3Moe, 256, 768, 4, 2, 64, 4, 0, 16, 4, 192},
                      Case{"Qwen3MoeFull", ModelArch::kQwen3Moe, 256, 768, 4, 2, 64, 4, 1, 16, 4, 192}),
    CaseName);

}  // namespace
}  // namespace ssd
