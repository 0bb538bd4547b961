// sampler_bench: generation throughput of the sampling engine at
// concurrency 1, 8 and 32, each as a ratio against a Python KV-cache
// sampling loop (tests/reference/hf_reference.py sample-bench: eager
// PyTorch, vLLM's truncation order and exponential-race draw) on the same
// checkpoint, settings and thread count, in the same run; plus the fraction
// of this machine's measured peak fp32 matmul FLOP/s.
//
// Both sides generate `steps` tokens for each of c prompts of 32 tokens
// (SSD's sampling settings: temperature 1.5, top-k 20, top-p 0.8; no early
// stop), prefill included: tokens/s = c * steps / wall time.
//
//   build/bin/sampler_bench [--threads 2] [--repeats 3] [--steps 128] [--smoke]
//
// It reports; it asserts nothing about time.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "common/model/checkpoint.h"
#include "common/sampling/engine.h"
#include "tests/bench/bench_util.h"
#include "tests/subprocess.h"

namespace ssd {
namespace {

double EngineTokensPerSecond(std::shared_ptr<const Decoder> model, int concurrency, int steps, int repeats) {
  const ModelConfig& c = model->config();
  auto run = [&] {
    EngineOptions eo;
    eo.max_seqs = concurrency;
    eo.kv_cache_mb = 256;
    auto engine = Engine::Create(model, nullptr, eo);
    CHECK(engine.ok()) << engine.status();
    std::mt19937 gen(0);
    for (int i = 0; i < concurrency; ++i) {
      GenerationRequest r;
      r.id = "p" + std::to_string(i);
      for (int t = 0; t < 32; ++t) r.prompt_ids.push_back(gen() % c.vocab_size);
      r.params.temperature = 1.5;
      r.params.top_k = 20;
      r.params.top_p = 0.8;
      r.params.max_tokens = steps;
      CHECK((*engine)->Submit(std::move(r)).ok());
    }
    int64_t tokens = 0;
    (*engine)->RunUntilDone([&](SampleResult s) { tokens += s.num_tokens; });
    CHECK_EQ(tokens, int64_t{concurrency} * steps);
  };
  run();  // warm-up
  return concurrency * steps / MedianSeconds(run, repeats);
}

int Main(int argc, char** argv) {
  int threads = 2, repeats = 3, steps = 128;
  bool smoke = false;
  std::vector<int> concurrency = {1, 8, 32};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--repeats" && i + 1 < argc) {
      repeats = std::atoi(argv[++i]);
    } else if (a == "--steps" && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else if (a == "--smoke") {  // seconds-long run for CI
      smoke = true, repeats = 1, steps = 4, concurrency = {1, 4};
    } else {
      std::fprintf(stderr, "usage: sampler_bench [--threads N] [--repeats N] [--steps N] [--smoke]\n");
      return 2;
    }
  }
  at::set_num_threads(threads);
  at::NoGradGuard no_grad;
  const ModelConfig c = BenchModelConfig(smoke);
  std::string dir = MakeTempDir("ssd_sampler_bench");
  DecoderOptions invariant;
  invariant.batch_invariant = true;
  auto random = Decoder::RandomInit(c, 1, 0.02);
  CHECK(random.ok());
  CHECK(SaveHfCheckpoint(dir, c, (*random)->HfNamedTensors(), {}).ok());
  auto inv_model = Decoder::Load(dir, invariant);
  auto fast_model = Decoder::Load(dir, DecoderOptions());
  CHECK(inv_model.ok() && fast_model.ok());
  std::shared_ptr<const Decoder> inv(std::move(*inv_model)), fast(std::move(*fast_model));

  std::vector<std::string> py = {"sample-bench", "--model", dir, "--threads", std::to_string(threads),
                                 "--steps", std::to_string(steps), "--repeats", std::to_string(repeats),
                                 "--concurrency"};
  for (int k : concurrency) py.push_back(std::to_string(k));
  nlohmann::json before, after;
  if (!RunPythonReference(py, &before)) return 1;
  std::vector<double> ours_inv, ours_fast;
  for (int k : concurrency) {
    ours_inv.push_back(EngineTokensPerSecond(inv, k, steps, repeats));
    ours_fast.push_back(EngineTokensPerSecond(fast, k, steps, repeats));
  }
  const double peak = PeakMatmulFlops(repeats);
  if (!RunPythonReference(py, &after)) return 1;
  RemoveTree(dir);

  std::printf("sampler_bench: qwen3 %lld layers, hidden %lld, vocab %lld (%.1fM params), fp32, %d threads\n",
              static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.vocab_size), c.NumParameters() / 1e6, threads);
  std::printf("c prompts of 32 tokens x %d generated tokens; T=1.5 top-k 20 top-p 0.8; median of %d\n", steps,
              repeats);
  std::printf("peak fp32 matmul (at::mm): %.1f GFLOP/s; python ref = mean of runs before and after ssd\n\n",
              peak / 1e9);
  std::printf("| %-11s | %12s | %12s | %10s | %7s | %9s | %12s |\n", "concurrency", "ssd tok/s", "python tok/s",
              "ratio", "% peak", "sgemm tok/s", "sgemm ratio");
  std::printf("|-------------|--------------|--------------|------------|---------|-----------|--------------|\n");
  const double flops = LinearFlopsPerToken(c) + AttentionFlops(c, 32 + steps / 2.0);
  for (size_t i = 0; i < concurrency.size(); ++i) {
    const std::string key = "c" + std::to_string(concurrency[i]) + "_tokens_per_s";
    const double ref = 0.5 * (before[key].get<double>() + after[key].get<double>());
    std::printf("| %-11d | %12.0f | %12.0f | %9.2fx | %6.1f%% | %9.0f | %11.2fx |\n", concurrency[i], ours_inv[i],
                ref, ours_inv[i] / ref, 100.0 * ours_inv[i] * flops / peak, ours_fast[i], ours_fast[i] / ref);
  }
  std::printf("\nssd = the engine as `ssd sample` runs it (batch-invariant matmuls); sgemm = the same engine\n"
              "with OpenBLAS sgemm/sgemv, whose rounding depends on the batch.\n");
  return 0;
}

}  // namespace
}  // namespace ssd

int main(int argc, char** argv) { return ssd::Main(argc, argv); }
