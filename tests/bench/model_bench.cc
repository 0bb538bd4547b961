// model_bench: forward and decode throughput of the libtorch decoder, each as
// a ratio against the independent Python reference (tests/reference/
// hf_reference.py, eager PyTorch) running the same checkpoint with the same
// thread count in the same run, and as a fraction of this machine's measured
// peak fp32 matmul FLOP/s.
//
//   build/bin/model_bench [--threads 2] [--repeats 5] [--smoke]
//
// It reports; it asserts nothing about time.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common/model/checkpoint.h"
#include "common/model/decoder.h"
#include "nlohmann/json.hpp"
#include "tests/bench/bench_util.h"
#include "tests/subprocess.h"

namespace ssd {
namespace {

struct BenchOptions {
  int threads = 2;
  int repeats = 5;
  int batch = 8, seq = 256, prompt = 32, steps = 64;
  std::vector<int> decode_batches = {1, 16};
  ModelConfig config;
};

struct Row {
  std::string name;
  double ours, ref;
  std::string ref_key;
  double flops_per_token;
};

int Main(int argc, char** argv) {
  BenchOptions o;
  ModelConfig& c = o.config;
  c = BenchModelConfig(false);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      o.threads = std::atoi(argv[++i]);
    } else if (a == "--repeats" && i + 1 < argc) {
      o.repeats = std::atoi(argv[++i]);
    } else if (a == "--smoke") {  // seconds-long run for CI: tiny model, 1 repeat
      o.repeats = 1;
      o.batch = 2, o.seq = 16, o.prompt = 4, o.steps = 4;
      c = BenchModelConfig(true);
    } else {
      std::fprintf(stderr, "usage: model_bench [--threads N] [--repeats N] [--smoke]\n");
      return 2;
    }
  }
  at::set_num_threads(o.threads);
  at::NoGradGuard no_grad;

  std::string dir = MakeTempDir("ssd_model_bench");
  auto model_or = Decoder::RandomInit(c, 1, 0.02);
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
  std::vector<std::string> py = {"bench", "--model", dir, "--threads", std::to_string(o.threads),
                                 "--batch", std::to_string(o.batch), "--seq", std::to_string(o.seq),
                                 "--prompt", std::to_string(o.prompt), "--steps", std::to_string(o.steps),
                                 "--repeats", std::to_string(o.repeats), "--decode-batches"};
  for (int b : o.decode_batches) py.push_back(std::to_string(b));
  auto run_reference = [&](nlohmann::json* out) { return RunPythonReference(py, out); };
  nlohmann::json ref_before, ref_after;
  if (!run_reference(&ref_before)) {
    RemoveTree(dir);
    return 1;
  }

  std::vector<Row> rows;
  at::Tensor ids = at::randint(c.vocab_size, {o.batch, o.seq}, at::kLong);
  model.Forward(ids.narrow(1, 0, 16));  // warm-up
  double t_fwd = MedianSeconds([&] { model.Forward(ids); }, o.repeats);
  rows.push_back({"forward b" + std::to_string(o.batch) + "x" + std::to_string(o.seq),
                  o.batch * o.seq / t_fwd, 0, "forward_tokens_per_s",
                  LinearFlopsPerToken(c) + AttentionFlops(c, o.seq / 2.0)});
  for (int b : o.decode_batches) {
    at::Tensor prompt = at::randint(c.vocab_size, {b, o.prompt}, at::kLong);
    std::vector<int64_t> full(static_cast<size_t>(b), o.prompt), one(static_cast<size_t>(b), 1);
    auto prefill = [&](KVCache& cache) { return model.Extend(cache, prompt, full); };
    auto decode = [&] {
      auto cache = model.NewCache(b, o.prompt + o.steps);
      at::Tensor logits = prefill(*cache);
      for (int s = 0; s < o.steps; ++s) {
        at::Tensor next = logits.argmax(-1).view({b, 1});
        logits = model.Extend(*cache, next, one);
      }
    };
    double t_pre = MedianSeconds([&] { auto cache = model.NewCache(b, o.prompt + o.steps); prefill(*cache); }, o.repeats);
    double t_all = MedianSeconds(decode, o.repeats);
    std::string key = "decode_b" + std::to_string(b) + "_tokens_per_s";
    rows.push_back({"decode b" + std::to_string(b), b * o.steps / std::max(t_all - t_pre, 1e-9), 0, key,
                    LinearFlopsPerToken(c) + AttentionFlops(c, o.prompt + o.steps / 2.0)});
  }
  const double peak = PeakMatmulFlops(o.repeats);
  if (!run_reference(&ref_after)) {
    RemoveTree(dir);
    return 1;
  }
  for (Row& r : rows) {
    r.ref = 0.5 * (ref_before[r.ref_key].get<double>() + ref_after[r.ref_key].get<double>());
  }

  std::printf("model_bench: qwen3 %lld layers, hidden %lld, vocab %lld (%.1fM params), fp32, %d threads\n",
              static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.vocab_size), c.NumParameters() / 1e6, o.threads);
  std::printf("peak fp32 matmul (at::mm, best of 512/1024/2048): %.1f GFLOP/s\n", peak / 1e9);
  std::printf("python ref = mean of runs before and after ssd; each number a median of %d repeats\n\n",
              o.repeats);
  std::printf("| %-16s | %12s | %12s | %8s | %9s |\n", "metric (tok/s)", "ssd", "python ref",
              "ratio", "% of peak");
  std::printf("|%s|%s|%s|%s|%s|\n", std::string(18, '-').c_str(), std::string(14, '-').c_str(),
              std::string(14, '-').c_str(), std::string(10, '-').c_str(), std::string(11, '-').c_str());
  for (const Row& r : rows) {
    std::printf("| %-16s | %12.0f | %12.0f | %7.2fx | %8.1f%% |\n", r.name.c_str(), r.ours, r.ref,
                r.ours / r.ref, 100.0 * r.ours * r.flops_per_token / peak);
  }
  RemoveTree(dir);
  return 0;
}

}  // namespace
}  // namespace ssd

int main(int argc, char** argv) { return ssd::Main(argc, argv); }
