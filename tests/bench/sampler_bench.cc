// sampler_bench: generation throughput of the sampling engine at
// concurrency 1, 8 and 32, each as a ratio against a Python KV-cache
// sampling loop (tests/reference/hf_reference.py sample-bench: eager
// PyTorch, vLLM's truncation order and exponential-race draw) on the same
// checkpoint, settings and thread count, in the same run; plus the fraction
// of this machine's measured peak fp32 matmul FLOP/s.
//
// Both sides generate `steps` tokens for each of c prompts of 32 tokens
// (SSD's sampling settings: temperature 1.5, top-k 20, top-p 0.8; no early
// stop), prefill included: tokens/s = c * steps / wall time. Each decode
// step streams the weights once for all its rows: "weights GB/s" is
// tokens/s / c x the weight bytes, against the memory read bandwidth
// measured in the same run.
//
//   build/bin/sampler_bench [--threads 2] [--repeats 3] [--steps 128] [--smoke] [--profile]
//
// --profile prints, instead, where the engine's time goes (prefill, decode
// forward, drawing, the rest) by the engine's own timers.
//
// It reports; it asserts nothing about time.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "common/model/checkpoint.h"
#include "common/sampling/engine.h"
#include "common/util/openblas_core.h"
#include "tests/bench/bench_util.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

// One engine run: c prompts of 32 random tokens, `steps` tokens each with
// SSD's sampling settings; its wall seconds, and its stats in `stats`.
double RunEngine(std::shared_ptr<const Decoder> model, int concurrency, int steps, EngineStats* stats) {
  const ModelConfig& c = model->config();
  const auto t0 = std::chrono::steady_clock::now();
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
  *stats = (*engine)->stats();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Generated tokens per second of the engine at `concurrency`, median of
// `repeats` runs after a warm-up.
double EngineTokensPerSecond(std::shared_ptr<const Decoder> model, int concurrency, int steps, int repeats) {
  EngineStats unused;
  RunEngine(model, concurrency, steps, &unused);  // warm-up
  return concurrency * steps / MedianSeconds([&] { RunEngine(model, concurrency, steps, &unused); }, repeats);
}

// --profile: where the engine's time goes at each concurrency (fp32, as
// `ssd sample` runs it), by its own timers in the run of median wall time.
void PrintEngineProfile(std::shared_ptr<const Decoder> model, const std::vector<int>& concurrency, int steps,
                        int repeats) {
  std::printf(
      "the engine's time by part (fp32, batch-invariant), c prompts x %d generated tokens; "
      "the run of median wall time of %d, after a warm-up; shares of its wall time\n\n",
      steps, repeats);
  std::printf(
      "| concurrency | tok/s | prefill | decode forward | draw | rest of the steps | setup, outside steps |\n"
      "|------------:|------:|--------:|---------------:|-----:|------------------:|---------------------:|\n");
  for (int k : concurrency) {
    EngineStats st;
    RunEngine(model, k, steps, &st);  // warm-up
    std::vector<std::pair<double, EngineStats>> runs;
    for (int r = 0; r < repeats; ++r) {
      const double secs = RunEngine(model, k, steps, &st);
      runs.emplace_back(secs, st);
    }
    std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    const auto& [total, m] = runs[runs.size() / 2];
    const double rest = m.step_seconds - m.prefill_seconds - m.forward_seconds - m.draw_seconds;
    std::printf("| %11d | %5.0f | %6.1f%% | %13.1f%% | %3.1f%% | %16.1f%% | %19.1f%% |\n", k, k * steps / total,
                100 * m.prefill_seconds / total, 100 * m.forward_seconds / total, 100 * m.draw_seconds / total,
                100 * rest / total, 100 * std::max(0.0, total - m.step_seconds) / total);
  }
}

int Main(int argc, char** argv) {
  int threads = 2, repeats = 3, steps = 128;
  bool smoke = false, profile = false;
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
    } else if (a == "--profile") {
      profile = true;
    } else {
      std::fprintf(stderr, "usage: sampler_bench [--threads N] [--repeats N] [--steps N] [--smoke] [--profile]\n");
      return 2;
    }
  }
  at::set_num_threads(threads);
  at::NoGradGuard no_grad;
  const ModelConfig c = BenchModelConfig(smoke);
  ScopedTempDir tmp("ssd_sampler_bench");
  const std::string dir = tmp.path();
  DecoderOptions invariant;
  invariant.batch_invariant = true;
  auto random = Decoder::RandomInit(c, 1, 0.02);
  CHECK(random.ok());
  CHECK(SaveHfCheckpoint(dir, c, (*random)->HfNamedTensors(), {}).ok());
  DecoderOptions bf16_options = invariant;
  bf16_options.cpu_bf16_weights = true;  // --dtype bf16
  auto inv_model = Decoder::Load(dir, invariant);
  auto fast_model = Decoder::Load(dir, DecoderOptions());
  auto bf16_model = Decoder::Load(dir, bf16_options);
  CHECK(inv_model.ok() && fast_model.ok() && bf16_model.ok());
  std::shared_ptr<const Decoder> inv(std::move(*inv_model)), fast(std::move(*fast_model)), bf16(std::move(*bf16_model));
  if (profile) {
    PrintEngineProfile(inv, concurrency, steps, repeats);
    return 0;
  }

  std::vector<std::string> py = {"sample-bench",
                                 "--model",
                                 dir,
                                 "--threads",
                                 std::to_string(threads),
                                 "--steps",
                                 std::to_string(steps),
                                 "--repeats",
                                 std::to_string(repeats),
                                 "--concurrency"};
  for (int k : concurrency) py.push_back(std::to_string(k));
  nlohmann::json before, after;
  if (!RunPythonReference(py, &before)) return 1;
  // Batch-1 decode alone, without the prefill, the engine's setup and the
  // first steps: the marginal rate of `steps` more tokens per sequence.
  auto decode_only = [&](std::shared_ptr<const Decoder> m) {
    const double t1 = steps / EngineTokensPerSecond(m, 1, steps, repeats);
    const double t2 = 2 * steps / EngineTokensPerSecond(m, 1, 2 * steps, repeats);
    return steps / std::max(t2 - t1, 1e-9);
  };
  const double decode_inv = decode_only(inv), decode_bf16 = decode_only(bf16);
  std::vector<double> ours_inv, ours_fast, ours_bf16;
  for (int k : concurrency) {
    ours_inv.push_back(EngineTokensPerSecond(inv, k, steps, repeats));
    ours_fast.push_back(EngineTokensPerSecond(fast, k, steps, repeats));
    ours_bf16.push_back(EngineTokensPerSecond(bf16, k, steps, repeats));
  }
  const double peak = PeakMatmulFlops(repeats);
  const double bandwidth = ReadBandwidthBytesPerSecond(threads, repeats);
  const double weight_bytes = DecodeWeightBytes(c, sizeof(float));
  if (!RunPythonReference(py, &after)) return 1;

  std::printf("sampler_bench: qwen3 %lld layers, hidden %lld, vocab %lld (%.1fM params), fp32, %d threads\n",
              static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.vocab_size), c.NumParameters() / 1e6, threads);
  std::printf("c prompts of 32 tokens x %d generated tokens; T=1.5 top-k 20 top-p 0.8; median of %d\n", steps, repeats);
  std::printf(
      "peak fp32 matmul (at::mm, OpenBLAS %s): %.1f GFLOP/s; read bandwidth (%d threads): %.1f GB/s; "
      "%.1f MB of weights per step\n",
      LoadedOpenBlasCore().c_str(), peak / 1e9, threads, bandwidth / 1e9, weight_bytes / 1e6);
  if (weight_bytes / 2 < static_cast<double>(LastLevelCacheBytes())) {
    std::printf(
        "note: the weights (fp32 or bf16) fit this machine's %.0f MB last-level cache, so batch 1 streams "
        "them from there: \"%% of read\" (against memory) can pass 100%%; see model_bench --beyond-llc\n",
        LastLevelCacheBytes() / 1e6);
  }
  std::printf("python ref = mean of runs before and after ssd\n\n");
  std::printf("| %-11s | %12s | %12s | %10s | %7s | %12s | %9s | %9s | %12s |\n", "concurrency", "ssd tok/s",
              "python tok/s", "ratio", "% peak", "weights GB/s", "% of read", "sgemm tok/s", "sgemm ratio");
  std::printf(
      "|-------------|--------------|--------------|------------|---------|--------------|-----------|"
      "-----------|--------------|\n");
  const double flops = LinearFlopsPerToken(c) + AttentionFlops(c, 32 + steps / 2.0);
  for (size_t i = 0; i < concurrency.size(); ++i) {
    const std::string key = "c" + std::to_string(concurrency[i]) + "_tokens_per_s";
    const double ref = 0.5 * (before[key].get<double>() + after[key].get<double>());
    const double streamed = ours_inv[i] / concurrency[i] * weight_bytes;
    std::printf("| %-11d | %12.0f | %12.0f | %9.2fx | %6.1f%% | %12.1f | %8.1f%% | %9.0f | %11.2fx |\n", concurrency[i],
                ours_inv[i], ref, ours_inv[i] / ref, 100.0 * ours_inv[i] * flops / peak, streamed / 1e9,
                100 * streamed / bandwidth, ours_fast[i], ours_fast[i] / ref);
  }
  std::printf(
      "\nssd = the engine as `ssd sample` runs it (batch-invariant matmuls); sgemm = the same engine\n"
      "with OpenBLAS sgemm/sgemv, whose rounding depends on the batch.\n\n");
  std::printf("batch-1 decode alone (the marginal rate of %d more tokens; no prefill or setup):\n", steps);
  std::printf("  fp32: %.0f tok/s, %.1f GB/s of weights, %.1f%% of read bandwidth\n", decode_inv,
              decode_inv * weight_bytes / 1e9, 100 * decode_inv * weight_bytes / bandwidth);
  std::printf("  bf16: %.0f tok/s, %.1f GB/s of weights, %.1f%% of read bandwidth (%.2fx fp32)\n\n", decode_bf16,
              decode_bf16 * DecodeWeightBytes(c, 2) / 1e9, 100 * decode_bf16 * DecodeWeightBytes(c, 2) / bandwidth,
              decode_bf16 / decode_inv);
  std::printf("--dtype bf16 (bf16 weight matrices, fp32 arithmetic; %.1f MB per step):\n\n",
              DecodeWeightBytes(c, 2) / 1e6);
  std::printf("| concurrency | bf16 tok/s | vs fp32 | vs python | %% peak | weights GB/s | %% of read |\n");
  std::printf("|-------------|------------|---------|-----------|--------|--------------|-----------|\n");
  for (size_t i = 0; i < concurrency.size(); ++i) {
    const std::string key = "c" + std::to_string(concurrency[i]) + "_tokens_per_s";
    const double ref = 0.5 * (before[key].get<double>() + after[key].get<double>());
    const double streamed = ours_bf16[i] / concurrency[i] * DecodeWeightBytes(c, 2);
    std::printf("| %-11d | %10.0f | %6.2fx | %8.2fx | %5.1f%% | %12.1f | %8.1f%% |\n", concurrency[i], ours_bf16[i],
                ours_bf16[i] / ours_inv[i], ours_bf16[i] / ref, 100.0 * ours_bf16[i] * flops / peak, streamed / 1e9,
                100 * streamed / bandwidth);
  }
  return 0;
}

}  // namespace
}  // namespace ssd

int main(int argc, char** argv) {
  ssd::ReexecWithBetterOpenBlasCore(argv);
  return ssd::Main(argc, argv);
}
