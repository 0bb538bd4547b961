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

double Seconds(const std::function<void()>& fn) {
  auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double MedianSeconds(const std::function<void()>& fn, int repeats) {
  std::vector<double> s;
  for (int i = 0; i < repeats; ++i) s.push_back(Seconds(fn));
  std::sort(s.begin(), s.end());
  return s[s.size() / 2];
}

// Peak fp32 GEMM rate: the best square matmul size among a few.
double PeakMatmulFlops(int repeats) {
  double best = 0;
  for (int64_t n : {512, 1024, 2048}) {
    at::Tensor a = at::randn({n, n}), b = at::randn({n, n});
    at::mm(a, b);
    double t = MedianSeconds([&] { at::mm(a, b); }, repeats);
    best = std::max(best, 2.0 * n * n * n / t);
  }
  return best;
}

// Matmul FLOPs per token of the linear layers (+ lm_head).
double LinearFlopsPerToken(const ModelConfig& c) {
  const double h = c.hidden_size;
  double per_layer = h * (c.q_dim() + 2 * c.kv_dim()) + c.q_dim() * h + 3 * h * c.intermediate_size;
  return 2.0 * (c.num_hidden_layers * per_layer + c.vocab_size * h);
}

// Attention FLOPs (QK^T and PV) for one token attending to `ctx` keys.
double AttentionFlops(const ModelConfig& c, double ctx) {
  return 4.0 * c.num_hidden_layers * c.num_attention_heads * c.head_dim * ctx;
}

struct Row {
  std::string name;
  double ours, ref;
  std::string ref_key;
  double flops_per_token;
};

int Main(int argc, char** argv) {
  BenchOptions o;
  ModelConfig& c = o.config;
  c.arch = ModelArch::kQwen3;
  c.vocab_size = 32000;
  c.hidden_size = 256;
  c.intermediate_size = 768;
  c.num_hidden_layers = 6;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.head_dim = 32;
  c.tie_word_embeddings = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      o.threads = std::atoi(argv[++i]);
    } else if (a == "--repeats" && i + 1 < argc) {
      o.repeats = std::atoi(argv[++i]);
    } else if (a == "--smoke") {  // seconds-long run for CI: tiny model, 1 repeat
      o.repeats = 1;
      o.batch = 2, o.seq = 16, o.prompt = 4, o.steps = 4;
      c.vocab_size = 256, c.hidden_size = 32, c.intermediate_size = 64, c.num_hidden_layers = 1;
      c.num_attention_heads = 2, c.num_key_value_heads = 1, c.head_dim = 16;
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
  std::vector<std::string> py = {"/usr/bin/python3", SourceDir() + "/tests/reference/hf_reference.py",
                                 "bench", "--model", dir, "--threads", std::to_string(o.threads),
                                 "--batch", std::to_string(o.batch), "--seq", std::to_string(o.seq),
                                 "--prompt", std::to_string(o.prompt), "--steps", std::to_string(o.steps),
                                 "--repeats", std::to_string(o.repeats), "--decode-batches"};
  for (int b : o.decode_batches) py.push_back(std::to_string(b));
  auto run_reference = [&](nlohmann::json* out) {
    ProcessResult pr = RunProcess(py, 1800);
    if (pr.exit_code != 0) {
      std::fprintf(stderr, "python reference failed (%d): %s\n", pr.exit_code, pr.err.c_str());
      return false;
    }
    *out = nlohmann::json::parse(pr.out);
    return true;
  };
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
