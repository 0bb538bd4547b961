// Training throughput of ssd's SFT trainer against a plain python3-torch
// loop (tests/reference/hf_reference.py train-bench) on the same model,
// micro-batches, accumulation, AdamW and clipping; MFU against this
// machine's measured peak matmul rate; and DP=2 scaling over Gloo
// (2 processes x 1 thread against 1 process x 1 thread, same global batch).
//
//   build/bin/trainer_bench [--threads 2] [--steps 5] [--smoke] [--moe]
//
// --moe runs it all on the mixture-of-experts bench model (bench_util.h;
// MFU counts the FLOPs of active parameters).
//   build/bin/trainer_bench --long-context ...   (long_context.h)
//   build/bin/trainer_bench --sharding ...       (sharding.h)
//
// Reports ratios; asserts nothing about time.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/model/checkpoint.h"
#include "common/model/decoder.h"
#include "common/util/file_util.h"
#include "common/util/openblas_core.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"
#include "tests/bench/bench_util.h"
#include "tests/bench/long_context.h"
#include "tests/bench/sharding.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"
#include "trainer_worker/gloo_collective.h"
#include "trainer_worker/launcher.h"
#include "trainer_worker/trainer.h"

namespace ssd {
namespace {

struct BenchOptions {
  bool smoke = false;
  bool moe = false;  // the mixture-of-experts bench model (bench_util.h)
  int steps = 5;
  int threads = 2;    // ssd and the reference, 1 process each
  int64_t rows = 4;   // per micro-batch
  int64_t seq = 256;  // tokens per row
  int64_t accum = 2;  // micro-batches per step (DP=2: one per rank)
};

// One example per row, every next token a target: the reference's workload.
SftDataset BenchData(const ModelConfig& c, const BenchOptions& o, int64_t examples) {
  at::Tensor ids = at::randint(c.vocab_size, {examples, o.seq}, at::kLong);
  std::vector<TokenizedExample> out;
  for (int64_t i = 0; i < examples; ++i) {
    TokenizedExample ex;
    for (int64_t t = 0; t < o.seq; ++t) {
      ex.ids.push_back(static_cast<int32_t>(ids[i][t].item<int64_t>()));
      ex.loss_mask.push_back(t > 0 ? 1 : 0);
    }
    out.push_back(std::move(ex));
  }
  return DatasetFromExamples(std::move(out));
}

TrainerOptions BenchTrainerOptions(const BenchOptions& o, const std::string& out, int threads) {
  TrainerOptions t;
  t.out_dir = out;
  t.max_seq_len = o.seq;
  t.batching.micro_batch_tokens = o.rows * o.seq;
  t.batching.batch_tokens = o.accum * o.rows * o.seq;
  t.lr = 1e-4;
  t.adamw.weight_decay = 0.01;
  t.decay = LrDecay::kConstant;
  t.threads = threads;
  t.progress = false;
  return t;
}

// Median tokens/s of `steps` steps after one warm-up step.
absl::StatusOr<double> TrainTokensPerSecond(const ModelConfig& c, const BenchOptions& o, const std::string& dir,
                                            int threads, Collective* collective) {
  at::set_num_threads(threads);
  auto model = Decoder::Load(dir);
  if (!model.ok()) return model.status();
  auto trainer = Trainer::FromModel(BenchTrainerOptions(o, dir + "/out", threads), std::move(*model),
                                    BenchData(c, o, (o.steps + 1) * o.accum * o.rows), collective);
  if (!trainer.ok()) return trainer.status();
  std::vector<double> rates;
  for (int s = 0; s <= o.steps; ++s) {
    auto m = (*trainer)->Step();
    if (!m.ok()) return m.status();
    if (s > 0) rates.push_back(m->tokens_per_s);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

// Forward + backward of one packed micro-batch shaped like the quickstart's
// SFT (2 rows of 1024 tokens, 4 documents of 200-300 tokens each), in ms:
// the median of `reps` after one warm-up. by_document false is the baseline
// (the full [B, T, T] mask that training used before).
absl::StatusOr<double> PackedStepMs(const ModelConfig& c, bool by_document, int threads, int reps) {
  at::set_num_threads(threads);
  DecoderOptions options;
  options.attention_by_document = by_document;
  ASSIGN_OR_RETURN(std::unique_ptr<Decoder> model, Decoder::RandomInit(c, 1, 0.02, options));
  for (const auto& [name, p] : model->Parameters()) p.requires_grad_(true);
  const int64_t T = 1024;
  const std::vector<std::vector<int64_t>> docs = {{230, 260, 210, 300}, {280, 200, 250, 270}};
  at::manual_seed(3);
  at::Tensor ids = at::randint(c.vocab_size, {2, T}, at::kLong);
  const AttentionLayout layout = AttentionLayout::Packed(docs, T);
  at::AutoGradMode grad(true);
  std::vector<double> ms;
  for (int r = 0; r <= reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    model->Forward(ids, layout).logsumexp(-1).mean().backward();
    const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (r > 0) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// A DP rank, started by the launcher below: trains over Gloo and (rank 0)
// writes its tokens/s to `result`.
int RankMain(const BenchOptions& o, const std::string& dir, const RendezvousOptions& r, const std::string& result) {
  GlooOptions g;
  g.rendezvous = r;
  auto coll = GlooCollective::Connect(g);
  if (!coll.ok()) {
    std::fprintf(stderr, "%s\n", std::string(coll.status().message()).c_str());
    return 1;
  }
  auto config = LoadModelConfig(dir);
  auto rate = TrainTokensPerSecond(*config, o, dir, 1, coll->get());
  if (!rate.ok()) {
    std::fprintf(stderr, "rank %d: %s\n", r.rank, std::string(rate.status().message()).c_str());
    return 1;
  }
  if (r.rank == 0 && !WriteFileAtomically(result, std::to_string(*rate)).ok()) return 1;
  return 0;
}

int Main(int argc, char** argv) {
  BenchOptions o;
  std::string dir, result;
  RendezvousOptions r;
  bool as_rank = false;
  if (argc > 1 && (std::string(argv[1]) == "--sharding" || std::string(argv[1]) == "--sharding-rank")) {
    return ShardingMain(argc - 2, argv + 2, std::string(argv[1]) == "--sharding-rank");
  }
  if (argc > 1 && (std::string(argv[1]) == "--long-context" || std::string(argv[1]) == "--long-context-child")) {
    return LongContextMain(argc - 2, argv + 2, std::string(argv[1]) == "--long-context-child");
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--smoke") {
      o.smoke = true;
      o.steps = 1;
      o.rows = 2;
      o.seq = 32;
    } else if (a == "--moe") {
      o.moe = true;
    } else if (a == "--threads") {
      o.threads = std::atoi(next().c_str());
    } else if (a == "--steps") {
      o.steps = std::atoi(next().c_str());
    } else if (a == "--model-dir") {  // rank mode (internal)
      dir = next();
    } else if (a == "--result") {
      result = next();
      as_rank = true;
    } else if (a == "--rank") {
      r.rank = std::atoi(next().c_str());
    } else if (a == "--world-size") {
      r.world_size = std::atoi(next().c_str());
    } else if (a == "--master-addr") {
      r.master_addr = next();
    } else if (a == "--master-port") {
      r.master_port = std::atoi(next().c_str());
    } else if (a == "--store-owner") {
      r.store_owner = next() == "external" ? StoreOwner::kExternal : StoreOwner::kRank0;
    } else {
      std::fprintf(stderr, "usage: trainer_bench [--threads N] [--steps N] [--smoke] [--moe]\n");
      return 2;
    }
  }
  KeepFreedMemoryForReuse();  // as `ssd train` does
  if (as_rank) return RankMain(o, dir, r, result);

  const ModelConfig c = o.moe ? BenchMoeConfig(o.smoke) : BenchModelConfig(o.smoke);
  ScopedTempDir tmp("ssd_trainer_bench");
  dir = tmp.path();
  auto model = Decoder::RandomInit(c, 1, 0.02);
  absl::Status saved = model.ok() ? SaveHfCheckpoint(dir, c, (*model)->HfNamedTensors(), {}) : model.status();
  if (!saved.ok()) {
    std::fprintf(stderr, "%s\n", std::string(saved.message()).c_str());
    return 1;
  }
  const int64_t step_tokens = o.accum * o.rows * o.seq;
  auto fail = [&](const absl::Status& s) {
    std::fprintf(stderr, "trainer_bench: %s\n", std::string(s.message()).c_str());
    return 1;
  };
  std::vector<std::string> py = {"train-bench",
                                 "--model",
                                 dir,
                                 "--threads",
                                 std::to_string(o.threads),
                                 "--rows",
                                 std::to_string(o.rows),
                                 "--seq",
                                 std::to_string(o.seq),
                                 "--accum",
                                 std::to_string(o.accum),
                                 "--steps",
                                 std::to_string(o.steps)};
  // The reference runs before and after ssd and is averaged (load drift).
  nlohmann::json ref_before, ref_after;
  if (!RunPythonReference(py, &ref_before)) return fail(absl::InternalError("python reference failed"));
  auto ours2 = TrainTokensPerSecond(c, o, dir, o.threads, nullptr);
  if (!ours2.ok()) return fail(ours2.status());
  auto ours1 = TrainTokensPerSecond(c, o, dir, 1, nullptr);
  if (!ours1.ok()) return fail(ours1.status());
  if (!RunPythonReference(py, &ref_after)) return fail(absl::InternalError("python reference failed"));
  const double ref =
      0.5 * (ref_before["train_tokens_per_s"].get<double>() + ref_after["train_tokens_per_s"].get<double>());

  // DP=2: two processes of this binary, one thread each, over Gloo.
  auto store = StoreServer::Start("127.0.0.1", 300);
  if (!store.ok()) return fail(store.status());
  LaunchOptions launch;
  launch.args = {"--steps", std::to_string(o.steps), "--model-dir", dir, "--result", dir + "/dp2.txt"};
  if (o.smoke) launch.args.insert(launch.args.begin(), "--smoke");
  launch.nproc = 2;
  launch.master_port = (*store)->port();
  if (auto s = LaunchLocalRanks(launch); !s.ok()) return fail(s);
  const double dp2 = std::atof(ReadFileToString(dir + "/dp2.txt").value_or("0").c_str());

  at::set_num_threads(o.threads);
  const double peak2 = PeakMatmulFlops(3);
  at::set_num_threads(1);
  const double peak1 = PeakMatmulFlops(3);
  const double flops_per_token =
      TrainingFlops(c, 1.0, 0.5 * static_cast<double>(o.seq + 1));  // causal pairs per token of a full row

  std::printf("trainer_bench: %s %lld layers, hidden %lld, vocab %lld (%.1fM params, %.1fM active), fp32 AdamW\n",
              std::string(ModelTypeName(c.arch)).c_str(), static_cast<long long>(c.num_hidden_layers),
              static_cast<long long>(c.hidden_size), static_cast<long long>(c.vocab_size), c.NumParameters() / 1e6,
              c.NumActiveParameters() / 1e6);
  std::printf("step = %lld micro-batches x %lld rows x %lld tokens = %lld tokens; median of %d steps\n",
              static_cast<long long>(o.accum), static_cast<long long>(o.rows), static_cast<long long>(o.seq),
              static_cast<long long>(step_tokens), o.steps);
  std::printf("peak fp32 matmul (OpenBLAS %s): %.1f GFLOP/s (%d threads), %.1f GFLOP/s (1 thread)\n\n",
              LoadedOpenBlasCore().c_str(), peak2 / 1e9, o.threads, peak1 / 1e9);
  std::printf("| %-34s | %10s | %10s |\n", "metric", "value", "MFU");
  std::printf("|%s|%s|%s|\n", std::string(36, '-').c_str(), std::string(12, '-').c_str(), std::string(12, '-').c_str());
  const std::string ours_name = "ssd tokens/s (1 proc x " + std::to_string(o.threads) + " threads)";
  const std::string ref_name = "python ref tokens/s (" + std::to_string(o.threads) + " threads)";
  std::printf("| %-34s | %10.0f | %9.1f%% |\n", ours_name.c_str(), *ours2, 100.0 * *ours2 * flops_per_token / peak2);
  std::printf("| %-34s | %10.0f | %9.1f%% |\n", ref_name.c_str(), ref, 100.0 * ref * flops_per_token / peak2);
  std::printf("| %-34s | %9.2fx | %10s |\n", "ssd / python ref", *ours2 / ref, "");
  std::printf("| %-34s | %10.0f | %9.1f%% |\n", "ssd DP=1 tokens/s (1 x 1 thread)", *ours1,
              100.0 * *ours1 * flops_per_token / peak1);
  std::printf("| %-34s | %10.0f | %9.1f%% |\n", "ssd DP=2 tokens/s (2 x 1 thread)", dp2,
              100.0 * dp2 * flops_per_token / (2 * peak1));
  std::printf("| %-34s | %9.1f%% | %10s |\n", "DP=2 scaling efficiency", 100.0 * dp2 / (2 * *ours1), "");

  // Packed documents: attention by document against the full mask, on the
  // committed tiny-code base's shape (its config.json), in this process.
  auto tiny = LoadModelConfig(SourceDir() + "/deploy/models/tiny-code-base");
  if (!tiny.ok()) return fail(tiny.status());
  const int reps = o.smoke ? 1 : 5;
  auto masked = PackedStepMs(*tiny, false, o.threads, reps);
  if (!masked.ok()) return fail(masked.status());
  auto by_doc = PackedStepMs(*tiny, true, o.threads, reps);
  if (!by_doc.ok()) return fail(by_doc.status());
  std::printf(
      "\npacked SFT micro-batch (tiny-code base shape, 2 rows x 1024 tokens, 4 documents per row), "
      "forward + backward, median of %d, %d threads:\n\n",
      reps, o.threads);
  std::printf("| %-34s | %10s |\n", "attention", "ms");
  std::printf("|%s|%s|\n", std::string(36, '-').c_str(), std::string(12, '-').c_str());
  std::printf("| %-34s | %10.1f |\n", "full [B, T, T] mask (baseline)", *masked);
  std::printf("| %-34s | %10.1f |\n", "by document", *by_doc);
  std::printf("| %-34s | %9.2fx |\n", "speed-up", *masked / *by_doc);
  return 0;
}

}  // namespace
}  // namespace ssd

int main(int argc, char** argv) {
  ssd::ReexecWithBetterOpenBlasCore(argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;  // warnings and errors only
  return ssd::Main(argc, argv);
}
