#include "tests/bench/bench_util.h"

#include <ATen/ATen.h>
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined"
// register, which -Wall reports as uninitialised in every caller.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "tests/testing/subprocess.h"
#include "tests/testing/test_env.h"

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

namespace {

// Sums n floats (n a multiple of 64) with four vector accumulators; with
// `ahead` > 0 it also asks for each cache line `ahead` bytes before it is
// read, as the decode kernels do.
__attribute__((target("avx2"))) float SumAvx2(const float* p, int64_t n, int64_t ahead) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i + 32 <= n; i += 32) {
    if (ahead > 0) {
      _mm_prefetch(reinterpret_cast<const char*>(p + i) + ahead, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p + i + 16) + ahead, _MM_HINT_T0);
    }
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

__attribute__((target("avx512f"))) float SumAvx512(const float* p, int64_t n, int64_t ahead) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i + 64 <= n; i += 64) {
    if (ahead > 0) {
      for (int l = 0; l < 4; ++l) _mm_prefetch(reinterpret_cast<const char*>(p + i + 16 * l) + ahead, _MM_HINT_T0);
    }
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

}  // namespace

int64_t LastLevelCacheBytes() {
  int64_t best = 0;
  for (int i = 0; i < 16; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream type(dir + "type"), size(dir + "size");
    std::string t, sz;
    if (!(type >> t) || !(size >> sz) || t == "Instruction" || sz.empty()) continue;
    int64_t bytes = std::atoll(sz.c_str());
    if (sz.back() == 'K') bytes <<= 10;
    if (sz.back() == 'M') bytes <<= 20;
    best = std::max(best, bytes);
  }
  return best;
}

double ReadBandwidthBytesPerSecond(int threads, int repeats) {
  // Floats: 512 MiB, or 4x the last-level cache where that is larger.
  const int64_t n = std::max(int64_t{128} << 20, LastLevelCacheBytes());
  std::vector<float> data(static_cast<size_t>(n), 1.0f);
  volatile float sink = 0;
  const bool avx512 = __builtin_cpu_supports("avx512f");
  double best = 0;
  // Every read loop the decode kernels could use: AVX2 or AVX-512 loads,
  // with and without software prefetch 2 KiB ahead. The best is the ceiling.
  for (int variant = 0; variant < (avx512 ? 4 : 2); ++variant) {
    const int64_t ahead = variant % 2 == 1 ? 2048 : 0;
    for (int r = 0; r < repeats + 1; ++r) {
      float total = 0;
      const double s = Seconds([&] {
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
          const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
          const int64_t begin = n * t / nt / 64 * 64, end = n * (t + 1) / nt / 64 * 64;
          total += variant < 2 ? SumAvx2(data.data() + begin, end - begin, ahead)
                               : SumAvx512(data.data() + begin, end - begin, ahead);
        }
      });
      sink = sink + total;
      if (r > 0) best = std::max(best, 4.0 * n / s);  // the first run of each warms the pages and caches
    }
  }
  return best;
}

double DecodeWeightBytes(const ModelConfig& c, double bytes_per_weight) {
  const double h = c.hidden_size;
  const double per_layer = h * (c.q_dim() + 2 * c.kv_dim()) + c.q_dim() * h + 3 * h * c.intermediate_size;
  return bytes_per_weight * (c.num_hidden_layers * per_layer + c.vocab_size * h);
}

double LinearFlopsPerToken(const ModelConfig& c) {
  // The matrices a token multiplies by: of a MoE layer the router and its k
  // experts; norms and biases left out; the lm_head, not the embedding.
  const double h = c.hidden_size;
  const double vectors = 2 * h + (c.qk_norm() ? 2 * c.head_dim : 0) + (c.qkv_bias() ? c.q_dim() + 2 * c.kv_dim() : 0) +
                         (c.o_bias() ? h : 0);
  double matrices = c.vocab_size * h;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) matrices += c.LayerParameters(l, /*active=*/true) - vectors;
  return 2.0 * matrices;
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

ModelConfig BenchMoeConfig(bool smoke, int64_t experts) {
  ModelConfig c = BenchModelConfig(false);
  c.arch = ModelArch::kQwen3Moe;
  c.vocab_size = 4096;
  c.hidden_size = 512, c.num_attention_heads = 8, c.num_key_value_heads = 4, c.head_dim = 64;
  c.num_hidden_layers = 6;
  c.moe.num_experts = experts, c.moe.num_experts_per_tok = 4, c.moe.moe_intermediate_size = 192;
  c.moe.norm_topk_prob = true;
  if (smoke) c.vocab_size = 256, c.num_hidden_layers = 1;
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
