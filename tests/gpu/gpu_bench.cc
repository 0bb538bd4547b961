// gpu_bench: sampler and trainer throughput on one CUDA device, each as a
// ratio against what the same device measured in the same process:
//   - copy bandwidth (a 1 GiB device-to-device copy, bytes read + written)
//     for batch-1 decode, which streams every weight once per token;
//   - bf16 matmul peak (8192^3 at::mm) for batched decode and training;
// and, when given --baseline-json (tests/gpu/hf_gpu_baseline.py's output for
// the same shape and settings), as a ratio against eager PyTorch with
// Hugging Face transformers.
//
// Model: a Qwen3-0.6B-shaped decoder with random weights (the shape is what
// costs time, not the values). Decode: SSD's sampling settings (T 1.5,
// top-k 20, top-p 0.8), 64-token prompts, `decode_tokens` new tokens per
// sequence without early stop, prefill included. Training: packed SFT rows
// of `train_seq` tokens under bf16 autocast with fp32 AdamW masters.
//
//   gpu_bench [--smoke] [--decode-tokens 128] [--train-steps 5] [--baseline-json FILE]
//
// It reports; it asserts nothing about time. Needs a CUDA libtorch and a
// device (tests/gpu/run.sh); elsewhere it says so and exits 0.
#include <ATen/ATen.h>
#include <glog/logging.h>
#include <stdlib.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/model/decoder.h"
#include "common/sampling/engine.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"
#include "trainer_worker/metrics.h"
#include "trainer_worker/trainer.h"

namespace ssd {
namespace {

double DeviceSeconds(const std::function<void()>& fn, int repeats) {
  std::vector<double> s;
  for (int i = 0; i < repeats; ++i) {
    torch::cuda::synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    torch::cuda::synchronize();
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(s.begin(), s.end());
  return s[s.size() / 2];
}

ModelConfig Qwen3_0_6B(bool smoke) {
  ModelConfig c;
  c.arch = ModelArch::kQwen3;
  c.vocab_size = smoke ? 4096 : 151936;
  c.hidden_size = smoke ? 256 : 1024;
  c.intermediate_size = smoke ? 768 : 3072;
  c.num_hidden_layers = smoke ? 4 : 28;
  c.num_attention_heads = smoke ? 4 : 16;
  c.num_key_value_heads = smoke ? 2 : 8;
  c.head_dim = smoke ? 64 : 128;
  c.max_position_embeddings = 4096;
  c.rope_theta = 1000000.0;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  return c;
}

// Bytes of weights one decode step reads: every matrix once (the tied
// embedding as the lm_head), norms included, the embedding lookup not.
double WeightBytesPerStep(const Decoder& m) {
  double bytes = 0;
  for (const auto& [name, t] : m.HfNamedTensors()) bytes += static_cast<double>(t.numel()) * t.element_size();
  return bytes;
}

double MatmulFlopsPerToken(const ModelConfig& c) {
  const double d = c.head_dim, h = c.hidden_size;
  const double per_layer = h * (c.num_attention_heads + 2 * c.num_key_value_heads) * d + c.num_attention_heads * d * h +
                           3 * h * c.intermediate_size;
  return 2 * (c.num_hidden_layers * per_layer + h * c.vocab_size);
}

double DecodeTokensPerSecond(std::shared_ptr<const Decoder> model, int batch, int tokens) {
  const ModelConfig& c = model->config();
  auto run = [&] {
    EngineOptions eo;
    eo.max_seqs = batch;
    eo.kv_cache_mb = 2048;
    auto engine = Engine::Create(model, nullptr, eo);
    CHECK(engine.ok()) << engine.status();
    std::mt19937 gen(batch);
    for (int i = 0; i < batch; ++i) {
      GenerationRequest r;
      r.id = "p" + std::to_string(i);
      for (int t = 0; t < 64; ++t) r.prompt_ids.push_back(static_cast<int64_t>(gen() % c.vocab_size));
      r.params.temperature = 1.5;
      r.params.top_k = 20;
      r.params.top_p = 0.8;
      r.params.max_tokens = tokens;
      CHECK((*engine)->Submit(std::move(r)).ok());
    }
    int64_t n = 0;
    (*engine)->RunUntilDone([&](SampleResult s) { n += s.num_tokens; });
    CHECK_EQ(n, int64_t{batch} * tokens);
  };
  run();  // warm-up: cuBLAS handles, the caching allocator
  return batch * tokens / DeviceSeconds(run, 3);
}

struct TrainResult {
  double tokens_per_s = 0;
  double achieved_flops = 0;
};

TrainResult TrainThroughput(const ModelConfig& c, int seq, int steps, const std::string& out_dir) {
  DecoderOptions dopts;
  dopts.device = at::Device(at::kCUDA, 0);  // fp32 masters; autocast computes in bf16
  auto model = Decoder::RandomInit(c, /*seed=*/1, 0.02, dopts);
  CHECK(model.ok()) << model.status();
  std::mt19937 gen(7);
  std::vector<TokenizedExample> examples;
  for (int i = 0; i < 64; ++i) {
    TokenizedExample ex;
    for (int t = 0; t < seq; ++t) {
      ex.ids.push_back(static_cast<int32_t>(gen() % c.vocab_size));
      ex.loss_mask.push_back(t >= seq / 4 ? 1 : 0);
    }
    examples.push_back(std::move(ex));
  }
  TrainerOptions o;
  o.out_dir = out_dir;
  o.device = "cuda";
  o.max_seq_len = seq;
  o.batching.micro_batch_tokens = 4 * seq;
  o.batching.batch_tokens = 8 * seq;
  o.lr = 1e-5;
  o.max_steps = steps + 2;
  o.progress = false;
  auto t = Trainer::FromModel(o, std::move(*model), DatasetFromExamples(std::move(examples)), nullptr);
  CHECK(t.ok()) << t.status();
  for (int i = 0; i < 2; ++i) CHECK((*t)->Step().ok());  // warm-up
  std::vector<double> tps, flops;
  for (int i = 0; i < steps; ++i) {
    torch::cuda::synchronize();
    auto m = (*t)->Step();
    CHECK(m.ok()) << m.status();
    tps.push_back(m->tokens_per_s);
    // Causal attention over whole rows of `seq` tokens.
    const double pairs = (m->tokens / static_cast<double>(seq)) * 0.5 * seq * (seq + 1.0);
    flops.push_back(TrainingFlops(c, static_cast<double>(m->tokens), pairs) / m->step_s);
  }
  std::sort(tps.begin(), tps.end());
  std::sort(flops.begin(), flops.end());
  return {tps[tps.size() / 2], flops[flops.size() / 2]};
}

std::string Ratio(double ours, const nlohmann::json& base, const char* key) {
  if (!base.contains(key) || !base[key].is_number() || base[key].get<double>() <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", ours / base[key].get<double>());
  return buf;
}

int Main(int argc, char** argv) {
  bool smoke = false;
  int decode_tokens = 128, train_steps = 5;
  std::string baseline_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--smoke") {
      smoke = true;
    } else if (a == "--decode-tokens" && i + 1 < argc) {
      decode_tokens = std::atoi(argv[++i]);
    } else if (a == "--train-steps" && i + 1 < argc) {
      train_steps = std::atoi(argv[++i]);
    } else if (a == "--baseline-json" && i + 1 < argc) {
      baseline_path = argv[++i];
    } else {
      std::fprintf(stderr, "gpu_bench: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (decode_tokens <= 0 || train_steps <= 0) {
    std::fprintf(stderr, "gpu_bench: --decode-tokens and --train-steps must be positive\n");
    return 2;
  }
  if (!at::hasCUDA() || at::getNumGPUs() == 0) {
    std::printf("gpu_bench: this libtorch has no CUDA or no device is visible; nothing measured\n");
    return 0;
  }
  if (smoke) decode_tokens = std::min(decode_tokens, 16), train_steps = std::min(train_steps, 2);
  nlohmann::json base = nlohmann::json::object();
  if (!baseline_path.empty()) {
    std::ifstream in(baseline_path);
    std::stringstream ss;
    ss << in.rdbuf();
    base = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (base.is_discarded() || !base.is_object()) {
      std::fprintf(stderr, "gpu_bench: %s is not a JSON object; baseline ratios omitted\n", baseline_path.c_str());
      base = nlohmann::json::object();
    }
  }

  // The device's own limits, measured here.
  const int64_t copy_elems = smoke ? (int64_t{1} << 24) : (int64_t{1} << 29);  // bf16: 32 MiB or 1 GiB
  at::Tensor src = at::ones({copy_elems}, at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16));
  at::Tensor dst = at::empty_like(src);
  dst.copy_(src);
  const double copy_bps = 2.0 * copy_elems * 2 / DeviceSeconds([&] { dst.copy_(src); }, 10);
  src = at::Tensor(), dst = at::Tensor();
  const int64_t mm = smoke ? 2048 : 8192;
  at::Tensor a = at::randn({mm, mm}, at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16));
  at::Tensor b = at::randn({mm, mm}, a.options());
  at::mm(a, b);
  const double peak_flops = 2.0 * mm * mm * mm / DeviceSeconds([&] { at::mm(a, b); }, 10);
  a = at::Tensor(), b = at::Tensor();

  const ModelConfig c = Qwen3_0_6B(smoke);
  DecoderOptions dopts;
  dopts.device = at::Device(at::kCUDA, 0);
  dopts.dtype = at::kBFloat16;
  auto decoder = Decoder::RandomInit(c, /*seed=*/1, 0.02, dopts);
  CHECK(decoder.ok()) << decoder.status();
  std::shared_ptr<const Decoder> model(std::move(*decoder));
  const double weight_bytes = WeightBytesPerStep(*model);
  const double flops_per_token = MatmulFlopsPerToken(c);

  std::printf("device: %s\n", smoke ? "smoke shape" : "Qwen3-0.6B shape, random bf16 weights");
  std::printf("copy bandwidth (read + write): %.0f GB/s; bf16 matmul peak (%lld^3): %.0f TFLOP/s\n", copy_bps / 1e9,
              static_cast<long long>(mm), peak_flops / 1e12);
  std::printf("weights read per decode step: %.1f MB; matmul FLOPs per token: %.2f GFLOP\n\n", weight_bytes / 1e6,
              flops_per_token / 1e9);
  std::printf("| stage | tok/s | roofline share | vs HF transformers |\n|---|---:|---:|---:|\n");
  for (int batch : {1, 32}) {
    const double tps = DecodeTokensPerSecond(model, batch, decode_tokens);
    const double steps_per_s = tps / batch;
    const double bw_share = steps_per_s * weight_bytes / copy_bps;
    const double mfu = tps * flops_per_token / peak_flops;
    const std::string key = "decode_b" + std::to_string(batch) + "_tokens_per_s";
    std::printf("| decode, batch %d, %d tokens | %.0f | %.1f%% of copy bandwidth, %.2f%% of bf16 peak | %s |\n", batch,
                decode_tokens, tps, 100 * bw_share, 100 * mfu, Ratio(tps, base, key.c_str()).c_str());
  }
  model.reset();
  const int seq = smoke ? 256 : 1024;
  const TrainResult tr = [&] {
    ScopedTempDir out_dir("gpu_bench");
    return TrainThroughput(c, seq, train_steps, out_dir.path());
  }();
  std::printf("| SFT step, %d-token rows, 8 rows per step | %.0f | %.1f%% of bf16 peak (MFU) | %s |\n", seq,
              tr.tokens_per_s, 100 * tr.achieved_flops / peak_flops,
              Ratio(tr.tokens_per_s, base, "train_tokens_per_s").c_str());
  return 0;
}

}  // namespace
}  // namespace ssd

int main(int argc, char** argv) { return ssd::Main(argc, argv); }
