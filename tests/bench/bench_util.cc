#include "tests/bench/bench_util.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "tests/subprocess.h"

namespace ssd {

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

double LinearFlopsPerToken(const ModelConfig& c) {
  const double h = c.hidden_size;
  double per_layer = h * (c.q_dim() + 2 * c.kv_dim()) + c.q_dim() * h + 3 * h * c.intermediate_size;
  return 2.0 * (c.num_hidden_layers * per_layer + c.vocab_size * h);
}

double AttentionFlops(const ModelConfig& c, double ctx) {
  return 4.0 * c.num_hidden_layers * c.num_attention_heads * c.head_dim * ctx;
}

ModelConfig BenchModelConfig(bool smoke) {
  ModelConfig c;
  c.arch = ModelArch::kQwen3;
  c.vocab_size = 32000;
  c.hidden_size = 256;
  c.intermediate_size = 768;
  c.num_hidden_layers = 6;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.head_dim = 32;
  c.tie_word_embeddings = true;
  if (smoke) {
    c.vocab_size = 256, c.hidden_size = 32, c.intermediate_size = 64, c.num_hidden_layers = 1;
    c.num_attention_heads = 2, c.num_key_value_heads = 1, c.head_dim = 16;
  }
  return c;
}

bool RunPythonReference(const std::vector<std::string>& args, nlohmann::json* out) {
  std::vector<std::string> argv = {"/usr/bin/python3", SourceDir() + "/tests/reference/hf_reference.py"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult pr = RunProcess(argv, 1800);
  if (pr.exit_code != 0) {
    std::fprintf(stderr, "python reference failed (%d): %s\n", pr.exit_code, pr.err.c_str());
    return false;
  }
  *out = nlohmann::json::parse(pr.out, nullptr, false);
  return !out->is_discarded();
}

}  // namespace ssd
