// model_bench: forward and decode throughput of the libtorch decoder as
// `ssd sample` runs it (batch-invariant fp32), each as a ratio against the
// independent Python reference (tests/reference/hf_reference.py, eager
// PyTorch) running the same checkpoint with the same thread count in the
// same run, as a fraction of this machine's peak fp32 matmul FLOP/s, and for
// decode as the weight bytes streamed per second against the memory read
// bandwidth, both measured in the same run.
//
//   build/bin/model_bench [--threads 2] [--repeats 5] [--large | --beyond-llc] [--smoke]
//   build/bin/model_bench --profile [--threads 2]   # where a decode step's time goes
//   build/bin/model_bench --profile-bf16            # the same with --dtype bf16
//   build/bin/model_bench --moe [--threads 2]       # a mixture of experts against its dense twin
//
// --moe decodes a qwen3_moe model (64 experts, top-4) and a dense qwen3
// model of the same active parameters (its MLP as wide as the 4 active
// experts together) in the same run, alternating, and reports the MoE's
// tokens/s as a ratio of the dense model's at batch 1 (where a step reads
// only the chosen experts' weights) and at 32 concurrent sequences, with the
// share of the peak matmul FLOP/s spent on active parameters; each with the
// caches evicted before every step (cold: weights from memory, as for
// models larger than any cache) and without (warm).
//
// Decode rows also run the bf16-weight path (--dtype bf16: matrices stored
// in bf16, fp32 arithmetic), its bytes counted at 2 per weight. --large
// benchmarks a 42M-parameter model whose bf16 weights (83 MB) do not fit
// the caches of a machine with a small last-level cache. --beyond-llc sizes
// the model from this machine's last-level cache (sysfs), so that even the
// bf16 weights are 1.5x of it: batch 1 then streams from memory, which the
// read-bandwidth figure measures, and not from the cache.
//
// It reports; it asserts nothing about time.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/model/checkpoint.h"
#include "common/model/cpu_decode_step.h"
#include "common/model/decoder.h"
#include "common/util/openblas_core.h"
#include "nlohmann/json.hpp"
#include "tests/bench/bench_util.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

struct BenchOptions {
  int threads = 2;
  int repeats = 5;
  int batch = 8, seq = 256, prompt = 32, steps = 64;
  std::vector<int> decode_batches = {1, 8, 32};
  bool profile = false;
  bool profile_bf16 = false;
  int experts = 64;  // --moe
  ModelConfig config;
};

struct Row {
  std::string name;
  double ours, ref;
  std::string ref_key;
  double flops_per_token;
  int batch = 0;  // decode rows: the batch; 0 for the forward
  double bytes_per_weight = 4;
};

// Decodes `steps` tokens at each batch with the one-region step's profile
// on, and prints where a step's time goes, against the whole Extend call.
int Profile(const BenchOptions& o, const Decoder& model, cpu::DecodeProfile* profile) {
  const ModelConfig& c = model.config();
  std::printf("model_bench --profile: qwen3 %lld layers, hidden %lld, vocab %lld, %s, %d threads\n",
              static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.vocab_size), o.profile_bf16 ? "bf16 weights" : "fp32", o.threads);
  std::printf("one decode step (Extend with T = 1), microseconds per step, mean over %d steps x %d repeats\n\n",
              o.steps, o.repeats);
  for (int b : o.decode_batches) {
    at::Tensor prompt = at::randint(c.vocab_size, {b, o.prompt}, at::kLong);
    std::vector<int64_t> full(static_cast<size_t>(b), o.prompt), one(static_cast<size_t>(b), 1);
    double step_s = 0;
    int64_t steps = 0, region_steps = 0;
    std::array<double, cpu::DecodeProfile::kNumPhases> phases{};
    for (int r = 0; r < o.repeats + 1; ++r) {
      auto cache = model.NewCache(b, o.prompt + o.steps + 1);
      at::Tensor logits = model.Extend(*cache, prompt, full);
      at::Tensor next = logits.argmax(-1).view({b, 1});
      *profile = cpu::DecodeProfile();  // the decode steps only
      double run_s = 0;
      for (int s = 0; s < o.steps; ++s) {
        run_s += Seconds([&] { logits = model.Extend(*cache, next, one); });
        next = logits.argmax(-1).view({b, 1});
      }
      if (r == 0) continue;  // warm-up
      step_s += run_s;
      steps += o.steps;
      region_steps += profile->steps;
      for (size_t p = 0; p < phases.size(); ++p) phases[p] += profile->seconds[p];
    }
    double inside = 0;
    for (double s : phases) inside += s;
    std::printf("batch %d: %.1f us per step (%.0f tok/s)\n", b, 1e6 * step_s / steps, b * steps / step_s);
    std::printf("| %-40s | %9s | %6s |\n", "phase", "us/step", "share");
    std::printf("|%s|%s|%s|\n", std::string(42, '-').c_str(), std::string(11, '-').c_str(),
                std::string(8, '-').c_str());
    for (int p = 0; p < cpu::DecodeProfile::kNumPhases; ++p) {
      const double s = phases[static_cast<size_t>(p)];
      std::printf("| %-40s | %9.1f | %5.1f%% |\n", cpu::DecodeProfile::Name(p), 1e6 * s / steps, 100 * s / step_s);
    }
    std::printf("| %-40s | %9.1f | %5.1f%% |\n\n", "outside the region (embed, tensors, call)",
                1e6 * (step_s - inside) / steps, 100 * (step_s - inside) / step_s);
    if (region_steps != steps) {
      std::fprintf(stderr, "the one-region decode step did not run (%lld of %lld steps): CPU without AVX2/FMA?\n",
                   static_cast<long long>(region_steps), static_cast<long long>(steps));
      return 1;
    }
  }
  return 0;
}

// Decode tokens/s of `model` at batch b: prompt of o.prompt, o.steps steps
// timed one by one (prefill excluded), median of o.repeats runs. `evict`,
// when set, runs before each step outside the timing: the step then reads
// its weights from memory, as a model larger than the caches does.
double DecodeTokensPerSecond(const Decoder& model, const BenchOptions& o, int b,
                             const std::function<void()>& evict = nullptr) {
  const ModelConfig& c = model.config();
  at::Tensor prompt = at::randint(c.vocab_size, {b, o.prompt}, at::kLong);
  std::vector<int64_t> full(static_cast<size_t>(b), o.prompt), one(static_cast<size_t>(b), 1);
  std::vector<double> rates;
  for (int r = 0; r < o.repeats + 1; ++r) {
    auto cache = model.NewCache(b, o.prompt + o.steps);
    at::Tensor logits = model.Extend(*cache, prompt, full);
    double seconds = 0;
    for (int s = 0; s < o.steps; ++s) {
      at::Tensor next = logits.argmax(-1).view({b, 1});
      if (evict) evict();
      seconds += Seconds([&] { logits = model.Extend(*cache, next, one); });
    }
    if (r > 0) rates.push_back(b * o.steps / std::max(seconds, 1e-9));  // the first run warms up
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

int MoeBench(BenchOptions o) {
  ModelConfig moe = BenchMoeConfig(o.repeats == 1, o.experts);  // --smoke: 1 repeat
  ModelConfig dense = moe;
  dense.arch = ModelArch::kQwen3;
  dense.intermediate_size = moe.moe.num_experts_per_tok * moe.moe.moe_intermediate_size;
  DecoderOptions as_sampled;
  as_sampled.batch_invariant = true;
  cpu::DecodeProfile moe_profile, dense_profile;
  DecoderOptions moe_options = as_sampled, dense_options = as_sampled;
  if (o.profile) moe_options.decode_profile = &moe_profile, dense_options.decode_profile = &dense_profile;
  auto m = Decoder::RandomInit(moe, 1, 0.02, moe_options);
  auto d = Decoder::RandomInit(dense, 1, 0.02, dense_options);
  if (!m.ok() || !d.ok()) {
    std::fprintf(stderr, "%s\n", std::string((m.ok() ? d.status() : m.status()).message()).c_str());
    return 1;
  }
  const double peak = PeakMatmulFlops(o.repeats);
  std::printf(
      "model_bench --moe: qwen3_moe %lld layers, hidden %lld, %lld experts of width %lld, top-%lld: %.1fM "
      "parameters, %.2fM active; dense twin qwen3 with mlp %lld: %.2fM parameters; fp32, %d threads\n",
      static_cast<long long>(moe.num_hidden_layers), static_cast<long long>(moe.hidden_size),
      static_cast<long long>(moe.moe.num_experts), static_cast<long long>(moe.moe.moe_intermediate_size),
      static_cast<long long>(moe.moe.num_experts_per_tok), moe.NumParameters() / 1e6, moe.NumActiveParameters() / 1e6,
      static_cast<long long>(dense.intermediate_size), dense.NumParameters() / 1e6, o.threads);
  std::printf("peak fp32 matmul: %.1f GFLOP/s; each figure a median of %d repeats, the models alternating %d times\n\n",
              peak / 1e9, o.repeats, 3);
  // Cold: before each step, a read of twice the last-level cache evicts the
  // weights, so both models read theirs from memory, as models larger than
  // any cache do (the MoE's experts, 4x the dense twin's weights here, do
  // not fit this machine's cache; the twin's would, warm).
  std::vector<float> evict_buffer(static_cast<size_t>(std::max<int64_t>(LastLevelCacheBytes(), 64 << 20) / 2), 1.0f);
  volatile float evict_sink = 0;
  const std::function<void()> evict = [&] {
    float sum = 0;
    for (size_t i = 0; i < evict_buffer.size(); i += 16) sum += evict_buffer[i];
    evict_sink = evict_sink + sum;
  };
  std::printf("| %-13s | %14s | %14s | %11s | %20s |\n", "batch, caches", "dense tok/s", "moe tok/s", "moe / dense",
              "moe % of peak (active)");
  std::printf("|%s|%s|%s|%s|%s|\n", std::string(15, '-').c_str(), std::string(16, '-').c_str(),
              std::string(16, '-').c_str(), std::string(13, '-').c_str(), std::string(22, '-').c_str());
  for (const auto& [b, cold] : {std::make_pair(1, true), std::make_pair(32, true), std::make_pair(1, false),
                                std::make_pair(32, false)}) {
    std::vector<double> ratios, moe_rates, dense_rates;
    for (int round = 0; round < 3; ++round) {
      dense_rates.push_back(DecodeTokensPerSecond(**d, o, b, cold ? evict : nullptr));
      moe_rates.push_back(DecodeTokensPerSecond(**m, o, b, cold ? evict : nullptr));
      ratios.push_back(moe_rates.back() / dense_rates.back());
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const double moe_rate = median(moe_rates);
    std::printf("| %-13s | %14.0f | %14.0f | %10.2fx | %19.1f%% |\n",
                absl::StrFormat("%d, %s", b, cold ? "cold" : "warm").c_str(), median(dense_rates), moe_rate,
                median(ratios), 100.0 * moe_rate * (LinearFlopsPerToken(moe) + AttentionFlops(moe, o.prompt + o.steps / 2.0)) / peak);
    if (o.profile) {
      // Both models' phases over all their steps at this batch (prefills included).
      for (const auto& [name, p] : {std::make_pair("dense", &dense_profile), std::make_pair("moe", &moe_profile)}) {
        std::printf("    %s, us per step:", name);
        for (int ph = 0; ph < cpu::DecodeProfile::kNumPhases; ++ph) {
          std::printf(" %s %.1f;", cpu::DecodeProfile::Name(ph), 1e6 * p->seconds[static_cast<size_t>(ph)] / p->steps);
        }
        std::printf("\n");
        *p = cpu::DecodeProfile();
      }
    }
  }
  return 0;
}

int Main(int argc, char** argv) {
  BenchOptions o;
  bool moe = false;
  ModelConfig& c = o.config;
  c = BenchModelConfig(false);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      o.threads = std::atoi(argv[++i]);
    } else if (a == "--repeats" && i + 1 < argc) {
      o.repeats = std::atoi(argv[++i]);
    } else if (a == "--moe") {
      moe = true;
    } else if (a == "--experts" && i + 1 < argc) {
      o.experts = std::atoi(argv[++i]);
    } else if (a == "--profile") {
      o.profile = true;
    } else if (a == "--profile-bf16") {
      o.profile = o.profile_bf16 = true;
    } else if (a == "--large") {
      c = BenchModelConfig(false);
      c.hidden_size = 512, c.intermediate_size = 1536, c.num_hidden_layers = 8;
      c.num_attention_heads = 8, c.num_key_value_heads = 4, c.head_dim = 64;
    } else if (a == "--beyond-llc") {
      // Hidden 1024 with as many layers as it takes for the bf16 weights of
      // a decode step to be 1.5x the last-level cache (the fp32 ones 3x).
      c = BenchModelConfig(false);
      c.hidden_size = 1024, c.intermediate_size = 3072, c.num_hidden_layers = 1;
      c.num_attention_heads = 8, c.num_key_value_heads = 4, c.head_dim = 128;
      const double llc = static_cast<double>(std::max<int64_t>(LastLevelCacheBytes(), 32 << 20));
      while (DecodeWeightBytes(c, 2) < 1.5 * llc) ++c.num_hidden_layers;
      o.repeats = 3;
    } else if (a == "--smoke") {  // seconds-long run for CI: tiny model, 1 repeat
      o.repeats = 1;
      o.batch = 2, o.seq = 16, o.prompt = 4, o.steps = 4;
      c = BenchModelConfig(true);
    } else {
      std::fprintf(stderr,
                   "usage: model_bench [--threads N] [--repeats N] [--large | --beyond-llc] [--smoke] "
                   "[--profile | --profile-bf16] [--moe]\n");
      return 2;
    }
  }
  at::set_num_threads(o.threads);
  at::NoGradGuard no_grad;
  if (moe) return MoeBench(o);  // with --profile: each model's phases too

  cpu::DecodeProfile profile;
  DecoderOptions as_sampled;  // as `ssd sample` runs the model
  as_sampled.batch_invariant = true;
  if (o.profile) {
    DecoderOptions profiled = as_sampled;
    profiled.decode_profile = &profile;
    profiled.cpu_bf16_weights = o.profile_bf16;
    auto m = Decoder::RandomInit(c, 1, 0.02, profiled);
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", std::string(m.status().message()).c_str());
      return 1;
    }
    return Profile(o, **m, &profile);
  }
  auto model_or = Decoder::RandomInit(c, 1, 0.02, as_sampled);
  ScopedTempDir tmp("ssd_model_bench");
  const std::string dir = tmp.path();
  if (!model_or.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model_or.status().message()).c_str());
    return 1;
  }
  const Decoder& model = **model_or;
  absl::Status saved = SaveHfCheckpoint(dir, c, model.HfNamedTensors(), {});
  if (!saved.ok()) {
    std::fprintf(stderr, "%s\n", std::string(saved.message()).c_str());
    return 1;
  }

  // The Python reference runs before and after ssd and its two results are
  // averaged, so a drift in machine load during the run biases neither side.
  std::vector<std::string> py = {"bench",
                                 "--model",
                                 dir,
                                 "--threads",
                                 std::to_string(o.threads),
                                 "--batch",
                                 std::to_string(o.batch),
                                 "--seq",
                                 std::to_string(o.seq),
                                 "--prompt",
                                 std::to_string(o.prompt),
                                 "--steps",
                                 std::to_string(o.steps),
                                 "--repeats",
                                 std::to_string(o.repeats),
                                 "--decode-batches"};
  for (int b : o.decode_batches) py.push_back(std::to_string(b));
  auto run_reference = [&](nlohmann::json* out) { return RunPythonReference(py, out); };
  nlohmann::json ref_before, ref_after;
  if (!run_reference(&ref_before)) {
    return 1;
  }

  std::vector<Row> rows;
  at::Tensor ids = at::randint(c.vocab_size, {o.batch, o.seq}, at::kLong);
  model.Forward(ids.narrow(1, 0, 16));  // warm-up
  double t_fwd = MedianSeconds([&] { model.Forward(ids); }, o.repeats);
  rows.push_back({"forward b" + std::to_string(o.batch) + "x" + std::to_string(o.seq), o.batch * o.seq / t_fwd, 0,
                  "forward_tokens_per_s", LinearFlopsPerToken(c) + AttentionFlops(c, o.seq / 2.0)});
  DecoderOptions bf16_options = as_sampled;
  bf16_options.cpu_bf16_weights = true;
  auto bf16_or = Decoder::Load(dir, bf16_options);
  if (!bf16_or.ok()) {
    std::fprintf(stderr, "%s\n", std::string(bf16_or.status().message()).c_str());
    return 1;
  }
  const Decoder& bf16_model = **bf16_or;
  for (int b : o.decode_batches) {
    at::Tensor prompt = at::randint(c.vocab_size, {b, o.prompt}, at::kLong);
    std::vector<int64_t> full(static_cast<size_t>(b), o.prompt), one(static_cast<size_t>(b), 1);
    const std::string key = "decode_b" + std::to_string(b) + "_tokens_per_s";
    for (const Decoder* m : {&model, &bf16_model}) {
      auto prefill = [&](KVCache& cache) { return m->Extend(cache, prompt, full); };
      auto decode = [&] {
        auto cache = m->NewCache(b, o.prompt + o.steps);
        at::Tensor logits = prefill(*cache);
        for (int s = 0; s < o.steps; ++s) {
          at::Tensor next = logits.argmax(-1).view({b, 1});
          logits = m->Extend(*cache, next, one);
        }
      };
      decode();  // warm-up
      double t_pre = MedianSeconds(
          [&] {
            auto cache = m->NewCache(b, o.prompt + o.steps);
            prefill(*cache);
          },
          o.repeats);
      double t_all = MedianSeconds(decode, o.repeats);
      const bool bf16 = m == &bf16_model;
      rows.push_back({"decode b" + std::to_string(b) + (bf16 ? " bf16" : ""),
                      b * o.steps / std::max(t_all - t_pre, 1e-9), 0, key,
                      LinearFlopsPerToken(c) + AttentionFlops(c, o.prompt + o.steps / 2.0), b, bf16 ? 2.0 : 4.0});
    }
  }
  const double peak = PeakMatmulFlops(o.repeats);
  const double bandwidth = ReadBandwidthBytesPerSecond(o.threads, o.repeats);
  const double weight_bytes = DecodeWeightBytes(c, sizeof(float));
  const double weight_bytes_bf16 = DecodeWeightBytes(c, 2);
  if (!run_reference(&ref_after)) {
    return 1;
  }
  for (Row& r : rows) {
    r.ref = 0.5 * (ref_before[r.ref_key].get<double>() + ref_after[r.ref_key].get<double>());
  }

  std::printf("model_bench: qwen3 %lld layers, hidden %lld, vocab %lld (%.1fM params), fp32, %d threads\n",
              static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.vocab_size), c.NumParameters() / 1e6, o.threads);
  std::printf("peak fp32 matmul (at::mm on OpenBLAS's %s kernels, best of 512/1024/2048): %.1f GFLOP/s\n",
              LoadedOpenBlasCore().c_str(), peak / 1e9);
  const double llc = static_cast<double>(LastLevelCacheBytes());
  std::printf(
      "read bandwidth (%d threads, %.0f MiB, best of %d runs of each read loop): %.1f GB/s; a decode step "
      "streams %.1f MB of weights (%.1f MB in bf16); last-level cache %.0f MB\n",
      o.threads, std::max(512.0, 4 * llc / 1048576), o.repeats, bandwidth / 1e9, weight_bytes / 1e6,
      weight_bytes_bf16 / 1e6, llc / 1e6);
  if (weight_bytes_bf16 < llc) {
    std::printf(
        "note: the %s weights fit the last-level cache, so batch 1 streams them from there and \"%% of "
        "read\" (against memory) can pass 100%%; --beyond-llc sizes a model past it\n",
        weight_bytes < llc ? "fp32 and bf16" : "bf16");
  }
  std::printf("python ref = mean of runs before and after ssd; each number a median of %d repeats\n\n", o.repeats);
  std::printf("| %-16s | %10s | %10s | %7s | %9s | %13s | %9s |\n", "metric (tok/s)", "ssd", "python ref", "ratio",
              "% of peak", "weights GB/s", "% of read");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(18, '-').c_str(), std::string(12, '-').c_str(),
              std::string(12, '-').c_str(), std::string(9, '-').c_str(), std::string(11, '-').c_str(),
              std::string(15, '-').c_str(), std::string(11, '-').c_str());
  for (const Row& r : rows) {
    // A decode step streams the weights once for its whole batch.
    const double streamed = r.batch > 0 ? r.ours / r.batch * DecodeWeightBytes(c, r.bytes_per_weight) : 0;
    std::printf("| %-16s | %10.0f | %10.0f | %6.2fx | %8.1f%% | %13s | %9s |\n", r.name.c_str(), r.ours, r.ref,
                r.ours / r.ref, 100.0 * r.ours * r.flops_per_token / peak,
                r.batch > 0 ? absl::StrFormat("%.1f", streamed / 1e9).c_str() : "",
                r.batch > 0 ? absl::StrFormat("%.1f%%", 100 * streamed / bandwidth).c_str() : "");
  }
  std::printf("\nbf16 weights against fp32, decode tok/s:");
  for (size_t i = 0; i + 1 < rows.size(); ++i) {
    if (rows[i].batch > 0 && rows[i + 1].batch == rows[i].batch && rows[i + 1].bytes_per_weight == 2) {
      std::printf(" b%d %.2fx", rows[i].batch, rows[i + 1].ours / rows[i].ours);
    }
  }
  std::printf("\n");
  return 0;
}

}  // namespace
}  // namespace ssd

int main(int argc, char** argv) {
  ssd::ReexecWithBetterOpenBlasCore(argv);
  return ssd::Main(argc, argv);
}
