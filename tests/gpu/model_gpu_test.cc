// GPU checks of the model runtime and the sampling engine (LABELS gpu).
// Built in every build so CPU CI keeps them compiling; each test skips
// unless this libtorch has CUDA and a device is visible (tests/gpu/run.sh
// builds and runs them against a CUDA libtorch).
//
// The reference is the CPU fp32 path, itself checked against the Python
// reference by model_parity_test. On CUDA the weights and activations are
// bf16 (8 significant bits, relative rounding 2^-9 per operation) while
// softmax, the norms and the logits are fp32, so the two paths differ by
// rounding that compounds over the layers: tolerances are stated per test
// relative to the logits' own scale.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/model/decoder.h"
#include "common/model/test_models.h"
#include "common/sampling/engine.h"
#include "common/tokenizer/tokenizer.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

bool HaveCuda() { return at::hasCUDA() && at::getNumGPUs() > 0; }

#define SKIP_WITHOUT_CUDA() \
  if (!HaveCuda()) GTEST_SKIP() << "this libtorch has no CUDA or no device is visible (tests/gpu/run.sh)"

DecoderOptions CudaBf16() {
  DecoderOptions o;
  o.device = at::Device(at::kCUDA, 0);
  o.dtype = at::kBFloat16;
  return o;
}

// The same weights on another device and dtype.
std::unique_ptr<Decoder> Copy(const Decoder& model, const DecoderOptions& options) {
  std::map<std::string, at::Tensor> weights;
  for (const auto& [name, t] : model.HfNamedTensors()) weights[name] = t.detach().to(at::kCPU, at::kFloat);
  auto out = Decoder::FromHfWeights(model.config(), weights, options);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? std::move(*out) : nullptr;
}

struct LogitsGap {
  double max_abs = 0;     // max |cuda - cpu|
  double mean_abs = 0;    // mean |cuda - cpu|
  double scale = 0;       // max |cpu|
  double top1_agree = 0;  // share of positions whose argmax agrees
  double median_abs = 0;  // median |cuda - cpu|
};

LogitsGap Compare(const at::Tensor& cuda_logits, const at::Tensor& cpu_logits) {
  at::Tensor a = cuda_logits.to(at::kCPU, at::kFloat).reshape({-1, cpu_logits.size(-1)});
  at::Tensor b = cpu_logits.to(at::kFloat).reshape({-1, cpu_logits.size(-1)});
  at::Tensor d = (a - b).abs();
  LogitsGap g;
  g.max_abs = d.max().item<double>();
  g.mean_abs = d.mean().item<double>();
  g.scale = b.abs().max().item<double>();
  g.top1_agree = a.argmax(-1).eq(b.argmax(-1)).to(at::kFloat).mean().item<double>();
  g.median_abs = d.median().item<double>();
  return g;
}

std::string Describe(const LogitsGap& g) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "max|d| %.4g, mean|d| %.4g, logit scale %.4g, top-1 agreement %.1f%%", g.max_abs,
                g.mean_abs, g.scale, 100 * g.top1_agree);
  return buf;
}

class ArchTest : public ::testing::TestWithParam<ModelArch> {};

// Random weights, every architecture: packed documents and right padding
// exercise the segment and position handling on the device.
TEST_P(ArchTest, Bf16CudaLogitsTrackFp32CpuOnPackedDocuments) {
  SKIP_WITHOUT_CUDA();
  auto cpu = Decoder::RandomInit(TinyConfig(GetParam()), /*seed=*/7, /*init_std=*/0.2).value();
  auto cuda = Copy(*cpu, CudaBf16());
  ASSERT_NE(cuda, nullptr);
  at::manual_seed(3);
  at::Tensor ids = at::randint(0, cpu->config().vocab_size, {2, 24}, at::kLong);
  const AttentionLayout layout = AttentionLayout::Packed({{10, 14}, {7, 9, 8}}, 24);
  at::Tensor ref = cpu->Forward(ids, layout);
  at::Tensor got = cuda->Forward(ids, layout);
  ASSERT_TRUE(got.is_cuda());
  ASSERT_EQ(got.scalar_type(), at::kFloat);
  const LogitsGap g = Compare(got, ref);
  std::printf("[ %s random ] %s\n", std::string(ModelTypeName(GetParam())).c_str(), Describe(g).c_str());
  // Two layers of bf16 rounding: a few percent of the logit scale at worst.
  // A router is discontinuous: bf16 can flip a near-tied choice and move
  // that token's logits by their scale, so MoE bounds the median.
  if (cpu->config().is_moe()) {
    EXPECT_LT(g.median_abs, 0.01 * g.scale) << Describe(g);
    return;
  }
  EXPECT_LT(g.max_abs, 0.05 * g.scale) << Describe(g);
  EXPECT_LT(g.mean_abs, 0.01 * g.scale) << Describe(g);
}

// Decoding through the paged cache on the device equals a full forward on
// the device up to bf16 rounding (the reduction order differs).
TEST_P(ArchTest, CudaKvCacheDecodeMatchesCudaFullForward) {
  SKIP_WITHOUT_CUDA();
  auto cpu = Decoder::RandomInit(TinyConfig(GetParam()), /*seed=*/9, /*init_std=*/0.2).value();
  auto cuda = Copy(*cpu, CudaBf16());
  ASSERT_NE(cuda, nullptr);
  at::manual_seed(4);
  const int64_t T = 20, prefill = 12;
  at::Tensor ids = at::randint(0, cpu->config().vocab_size, {1, T}, at::kLong);
  at::Tensor full = cuda->Forward(ids).to(at::kCPU)[0];  // [T, V]
  auto cache = cuda->NewCache(/*slots=*/1, /*initial_capacity=*/T);
  std::vector<at::Tensor> steps;
  steps.push_back(cuda->Extend(*cache, ids.slice(1, 0, prefill), {prefill}).to(at::kCPU)[0]);
  for (int64_t t = prefill; t < T; ++t) {
    steps.push_back(cuda->Extend(*cache, ids.slice(1, t, t + 1), {1}).to(at::kCPU)[0]);
  }
  at::Tensor incremental = at::stack(steps);  // positions prefill-1 .. T-1
  at::Tensor reference = full.slice(0, prefill - 1, T);
  const LogitsGap g = Compare(incremental, reference);
  std::printf("[ %s kv ] %s\n", std::string(ModelTypeName(GetParam())).c_str(), Describe(g).c_str());
  if (cpu->config().is_moe()) {
    EXPECT_LT(g.median_abs, 0.01 * g.scale) << Describe(g);  // routing flips, as above
    return;
  }
  EXPECT_LT(g.max_abs, 0.03 * g.scale) << Describe(g);
}

INSTANTIATE_TEST_SUITE_P(AllArchitectures, ArchTest,
                         ::testing::Values(ModelArch::kQwen3, ModelArch::kQwen2, ModelArch::kLlama, ModelArch::kQwen3Moe),
                         [](const ::testing::TestParamInfo<ModelArch>& info) {
                           return std::string(ModelTypeName(info.param));
                         });

// The committed tiny-code base: trained weights (stored as bf16, so both
// paths start from the same numbers) on a real prompt. Its confident
// positions must keep their top token on the GPU.
TEST(TinyCodeBaseTest, Bf16CudaKeepsTheTopTokenOfTheTrainedBaseOnRealCode) {
  SKIP_WITHOUT_CUDA();
  const std::string dir = SourceDir() + "/deploy/models/tiny-code-base";
  auto cpu = Decoder::Load(dir);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  auto cuda = Decoder::Load(dir, CudaBf16());
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  auto tok = Tokenizer::Load(dir);
  ASSERT_TRUE(tok.ok()) << tok.status();
  auto enc = (*tok)->Encode(
      "def solve(nums):\n    total = 0\n    for x in nums:\n        if x % 2 == 0:\n            total += x * 3\n"
      "    return total\n\nn = int(input())\nprint(solve(list(map(int, input().split()))))\n");
  ASSERT_TRUE(enc.ok()) << enc.status();
  std::vector<int64_t> ids64(enc->begin(), enc->end());
  at::Tensor ids = at::tensor(ids64, at::kLong).view({1, -1});
  const LogitsGap g = Compare((*cuda)->Forward(ids), (*cpu)->Forward(ids));
  std::printf("[ tiny-code-base, %lld tokens ] %s\n", static_cast<long long>(ids.size(1)), Describe(g).c_str());
  EXPECT_LT(g.max_abs, 0.05 * g.scale) << Describe(g);
  EXPECT_GE(g.top1_agree, 0.95) << Describe(g);
}

// The engine on the device: continuous batching, the paged cache and the
// host-side sampler. Same seed, same samples; another seed, other samples;
// greedy on the GPU follows greedy on the CPU while the top token is clear.
TEST(CudaEngineTest, SamplesAreSeedDeterministicAndGreedyFollowsTheCpu) {
  SKIP_WITHOUT_CUDA();
  const std::string dir = SourceDir() + "/deploy/models/tiny-code-base";
  auto tok = Tokenizer::Load(dir);
  ASSERT_TRUE(tok.ok()) << tok.status();
  auto load = [&](const DecoderOptions& o) { return std::shared_ptr<const Decoder>(Decoder::Load(dir, o).value()); };
  auto run = [&](std::shared_ptr<const Decoder> model, double temperature, uint64_t seed, int64_t n) {
    EngineOptions eo;
    eo.max_seqs = 8;
    eo.kv_cache_mb = 64;
    auto engine = Engine::Create(model, tok->get(), eo).value();
    GenerationRequest r;
    r.id = "p0";
    auto enc = (*tok)->Encode("def add(a, b):\n").value();
    r.prompt_ids.assign(enc.begin(), enc.end());
    r.params.n = n;
    r.params.temperature = temperature;
    r.params.top_k = 20;
    r.params.top_p = 0.8;
    r.params.max_tokens = 48;
    // No stop ids here or in the engine: every sample runs to max_tokens.
    r.params.seed = seed;
    EXPECT_TRUE(engine->Submit(r).ok());
    std::vector<std::vector<int64_t>> out(static_cast<size_t>(n));
    engine->RunUntilDone([&](SampleResult s) { out[static_cast<size_t>(s.sample_index)] = s.ids; });
    return out;
  };
  auto cuda = load(CudaBf16());
  const auto a = run(cuda, 1.5, 11, 6), b = run(cuda, 1.5, 11, 6), c = run(cuda, 1.5, 12, 6);
  for (const auto& s : a) EXPECT_EQ(s.size(), 48u);
  EXPECT_EQ(a, b) << "the same seed gave other samples on the GPU";
  EXPECT_NE(a, c) << "another seed gave the same samples";
  EXPECT_NE(a[0], a[1]) << "samples of one prompt are identical at T 1.5";

  const auto greedy_gpu = run(cuda, 0.0, 0, 1)[0];
  const auto greedy_cpu = run(load(DecoderOptions{}), 0.0, 0, 1)[0];
  size_t same = 0;
  while (same < greedy_gpu.size() && same < greedy_cpu.size() && greedy_gpu[same] == greedy_cpu[same]) ++same;
  std::printf("[ greedy ] GPU bf16 and CPU fp32 agree on the first %zu of %zu tokens\n", same, greedy_cpu.size());
  EXPECT_GE(same, 8u) << "greedy decoding on the GPU left the CPU's path within 8 tokens";
}

}  // namespace
}  // namespace ssd
