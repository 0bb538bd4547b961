#include "tests/bench/sharding.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "nlohmann/json.hpp"
#include "tests/bench/bench_util.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "trainer_worker/gloo_collective.h"
#include "trainer_worker/launcher.h"
#include "trainer_worker/memory_plan.h"
#include "trainer_worker/trainer.h"

namespace ssd {
namespace {

using Clock = std::chrono::steady_clock;

// 10 layers of hidden 1024 (16 heads of 64 over 4 kv heads, MLP 4096) and
// a 8,192-token tied vocabulary: 160.6 M parameters, 95% of them in the
// layers, as in the paper's models.
ModelConfig ShardingConfig(bool smoke) {
  ModelConfig c = BenchModelConfig(smoke);
  if (!smoke) {
    c.vocab_size = 8192;
    c.hidden_size = 1024;
    c.intermediate_size = 4096;
    c.num_hidden_layers = 10;
    c.num_attention_heads = 16;
    c.num_key_value_heads = 4;
    c.head_dim = 64;
  }
  return c;
}

// A Collective that times every call of the one it wraps, and apart those
// made on the thread that made it (inline, not hidden by any compute).
class TimedCollective : public Collective {
 public:
  explicit TimedCollective(Collective* inner) : inner_(inner) {}
  int rank() const override { return inner_->rank(); }
  int world_size() const override { return inner_->world_size(); }
  absl::Status AllReduceSum(const std::vector<at::Tensor>& t) override {
    return Time([&] { return inner_->AllReduceSum(t); });
  }
  absl::Status Broadcast(const at::Tensor& t, int root) override {
    return Time([&] { return inner_->Broadcast(t, root); });
  }
  absl::Status Barrier() override {
    return Time([&] { return inner_->Barrier(); });
  }
  absl::Status AllGather(const at::Tensor& s, const at::Tensor& f) override {
    return Time([&] { return inner_->AllGather(s, f); });
  }
  absl::Status AllGatherInPlace(const at::Tensor& f) override {
    return Time([&] { return inner_->AllGatherInPlace(f); });
  }
  absl::Status ReduceScatterSum(const at::Tensor& f, const at::Tensor& s) override {
    return Time([&] { return inner_->ReduceScatterSum(f, s); });
  }
  absl::Status ReduceScatterSumInPlace(const at::Tensor& f) override {
    return Time([&] { return inner_->ReduceScatterSumInPlace(f); });
  }
  double seconds() {
    std::lock_guard<std::mutex> lock(mu_);
    return seconds_;
  }
  double inline_seconds() {
    std::lock_guard<std::mutex> lock(mu_);
    return inline_seconds_;
  }

 private:
  template <typename F>
  absl::Status Time(F f) {
    const auto t0 = Clock::now();
    absl::Status s = f();
    const double took = std::chrono::duration<double>(Clock::now() - t0).count();
    std::lock_guard<std::mutex> lock(mu_);
    seconds_ += took;
    if (std::this_thread::get_id() == owner_) inline_seconds_ += took;
    return s;
  }
  Collective* inner_;
  const std::thread::id owner_ = std::this_thread::get_id();
  std::mutex mu_;
  double seconds_ = 0, inline_seconds_ = 0;
};

struct RunShape {
  int64_t seq = 256;  // tokens per row
  int64_t rows = 1;   // rows per micro-batch
  int64_t micro_per_rank = 1;
};

SftDataset RandomData(const ModelConfig& c, int64_t examples, int64_t seq) {
  at::manual_seed(7);
  at::Tensor ids = at::randint(c.vocab_size, {examples, seq}, at::kLong);
  std::vector<TokenizedExample> out;
  for (int64_t i = 0; i < examples; ++i) {
    TokenizedExample ex;
    const int64_t* row = ids[i].data_ptr<int64_t>();
    for (int64_t t = 0; t < seq; ++t) {
      ex.ids.push_back(static_cast<int32_t>(row[t]));
      ex.loss_mask.push_back(t > 0 ? 1 : 0);
    }
    out.push_back(std::move(ex));
  }
  return DatasetFromExamples(std::move(out));
}

// One rank: trains `steps` steps after one warm-up, prints a JSON line.
int Rank(const std::string& mode_name, const RunShape& shape, int steps, bool smoke, const RendezvousOptions& r,
         const std::string& out_path) {
  at::set_num_threads(1);
  KeepFreedMemoryForReuse();
  nlohmann::json out;
  out["rank"] = r.rank;
  out["base_kb"] = ProcessStatusKib(getpid(), "VmRSS");  // libtorch loaded, no model yet
  GlooOptions g;
  g.rendezvous = r;
  auto gloo = GlooCollective::Connect(g);
  if (!gloo.ok()) {
    std::fprintf(stderr, "rank %d: %s\n", r.rank, std::string(gloo.status().message()).c_str());
    return 1;
  }
  TimedCollective coll(gloo->get());
  const ModelConfig c = ShardingConfig(smoke);
  TrainerOptions o;
  o.out_dir = out_path + ".out";
  o.max_seq_len = shape.seq;
  o.batching.micro_batch_tokens = shape.rows * shape.seq;
  o.batching.batch_tokens = shape.rows * shape.seq * shape.micro_per_rank * r.world_size;
  o.lr = 1e-4;
  o.decay = LrDecay::kConstant;
  o.threads = 1;
  o.progress = false;
  // "full", "full:bf16" (parameters gathered in bf16) or "full-inline"
  // (each layer collective waited for where it is queued: no overlap).
  std::string name = mode_name;
  if (absl::EndsWith(name, "-inline")) {
    o.overlap_communication = false;
    name.resize(name.size() - 7);
  }
  const size_t colon = name.find(':');
  o.sharding = ParseShardingMode(name.substr(0, colon), "mode").value();
  if (colon != std::string::npos) o.param_dtype = name.substr(colon + 1);
  auto model = Decoder::RandomInit(c, 1, 0.02);
  const int64_t examples = (steps + 1) * shape.rows * shape.micro_per_rank * r.world_size;
  auto trainer = Trainer::FromModel(o, std::move(*model), RandomData(c, examples, shape.seq), &coll);
  if (!trainer.ok()) {
    std::fprintf(stderr, "rank %d: %s\n", r.rank, std::string(trainer.status().message()).c_str());
    return 1;
  }
  out["model_state_bytes"] = (*trainer)->ModelStateBytes();
  std::vector<double> rates, comm, exposed;
  for (int s = 0; s <= steps; ++s) {
    const double before = coll.seconds(), before_inline = coll.inline_seconds();
    auto m = (*trainer)->Step();
    if (!m.ok()) {
      std::fprintf(stderr, "rank %d: %s\n", r.rank, std::string(m.status().message()).c_str());
      return 1;
    }
    if (s > 0) {
      rates.push_back(m->tokens_per_s);
      comm.push_back(coll.seconds() - before);
      exposed.push_back(coll.inline_seconds() - before_inline + std::max(0.0, m->comm_wait_s));
    }
  }
  std::sort(rates.begin(), rates.end());
  std::sort(comm.begin(), comm.end());
  std::sort(exposed.begin(), exposed.end());
  out["exposed_comm_s_per_step"] = exposed[exposed.size() / 2];
  out["tokens_per_s"] = rates[rates.size() / 2];
  out["comm_s_per_step"] = comm[comm.size() / 2];
  out["peak_kb"] = ProcessStatusKib(getpid(), "VmHWM");
  return WriteFileAtomically(absl::StrCat(out_path, ".rank", r.rank), out.dump()).ok() ? 0 : 1;
}

struct Measured {
  std::vector<nlohmann::json> ranks;
  std::string error;
};

Measured Launch(const std::string& mode, int world, const RunShape& shape, int steps, bool smoke,
                const std::string& dir) {
  Measured m;
  auto store = StoreServer::Start("127.0.0.1", 600);
  if (!store.ok()) {
    m.error = std::string(store.status().message());
    return m;
  }
  std::string tag = mode;
  std::replace(tag.begin(), tag.end(), ':', '-');
  const std::string out = absl::StrCat(dir, "/", tag, "-", world, "-", shape.rows);
  LaunchOptions launch;
  launch.args = {"--sharding-rank",
                 mode,
                 std::to_string(shape.seq),
                 std::to_string(shape.rows),
                 std::to_string(shape.micro_per_rank),
                 std::to_string(steps),
                 smoke ? "1" : "0",
                 out};
  launch.nproc = world;
  launch.master_port = (*store)->port();
  if (absl::Status s = LaunchLocalRanks(launch); !s.ok()) {
    m.error = std::string(s.message());
    return m;
  }
  for (int r = 0; r < world; ++r) {
    auto text = ReadFileToString(absl::StrCat(out, ".rank", r));
    m.ranks.push_back(text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json());
  }
  return m;
}

double MaxOf(const Measured& m, const char* key) {
  double best = 0;
  for (const auto& r : m.ranks) best = std::max(best, r.value(key, 0.0));
  return best;
}

double Mib(double bytes) { return bytes / (1 << 20); }

}  // namespace

int ShardingMain(int argc, char** argv, bool rank) {
  if (rank) {
    // MODE SEQ ROWS MICRO_PER_RANK STEPS SMOKE OUT --rank R --world-size W ...
    if (argc < 7) return 2;
    RunShape shape{std::atoll(argv[1]), std::atoll(argv[2]), std::atoll(argv[3])};
    RendezvousOptions r;
    for (int i = 7; i + 1 < argc; i += 2) {
      const std::string a = argv[i], v = argv[i + 1];
      if (a == "--rank") r.rank = std::atoi(v.c_str());
      if (a == "--world-size") r.world_size = std::atoi(v.c_str());
      if (a == "--master-addr") r.master_addr = v;
      if (a == "--master-port") r.master_port = std::atoi(v.c_str());
      if (a == "--store-owner") r.store_owner = v == "external" ? StoreOwner::kExternal : StoreOwner::kRank0;
    }
    r.timeout_s = 600;
    return Rank(argv[0], shape, std::atoi(argv[4]), std::string(argv[5]) == "1", r, argv[6]);
  }
  bool smoke = false;
  int world = 4, steps = 2, speed_micro = 2;
  bool speed_only = false;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--smoke") {
      smoke = true;
      steps = 1;
    } else if (a == "--world") {
      world = std::atoi(next().c_str());
    } else if (a == "--steps") {
      steps = std::atoi(next().c_str());
    } else if (a == "--speed-micro") {
      speed_micro = std::atoi(next().c_str());
    } else if (a == "--speed-only") {
      speed_only = true;
    } else {
      std::fprintf(stderr,
                   "usage: trainer_bench --sharding [--world N] [--steps N] [--speed-micro 1|2|4|8] [--speed-only] "
                   "[--smoke]\n");
      return 2;
    }
  }
  if (world < 2 || steps < 1) {
    std::fprintf(stderr, "--world must be >= 2 and --steps >= 1\n");
    return 2;
  }
  if (speed_micro < 1 || 8 % speed_micro != 0) {
    std::fprintf(stderr, "--speed-micro: micro-batches per rank, 1, 2, 4 or 8; got %d\n", speed_micro);
    return 2;
  }
  const ModelConfig c = ShardingConfig(smoke);
  ScopedTempDir tmp("ssd_sharding_bench");
  const RunShape memory_shape{smoke ? 32 : 256, 1, 1};
  std::printf(
      "trainer_bench --sharding: qwen3 %lld layers, hidden %lld, vocab %lld (%.1f M parameters), fp32, Gloo, %d "
      "processes x 1 thread, micro-batches of %lld tokens, median of %d steps after a warm-up\n\n",
      static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.hidden_size),
      static_cast<long long>(c.vocab_size), c.NumParameters() / 1e6, world,
      static_cast<long long>(memory_shape.rows * memory_shape.seq), steps);
  if (!speed_only) {
    std::printf("| %-14s | %17s | %8s | %15s | %16s | %10s | %13s |\n", "sharding", "model state MiB", "vs none",
                "peak RSS MiB", "ssd plan MiB", "plan/peak", "comm s/step");
    std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(16, '-').c_str(), std::string(19, '-').c_str(),
                std::string(10, '-').c_str(), std::string(17, '-').c_str(), std::string(18, '-').c_str(),
                std::string(12, '-').c_str(), std::string(15, '-').c_str());
  }
  double none_state = 0;
  const std::vector<std::string> memory_modes = {"none", "optimizer", "gradients", "full", "optimizer:bf16",
                                                 "full:bf16"};
  for (const std::string& mode : speed_only ? std::vector<std::string>{} : memory_modes) {
    const Measured m = Launch(mode, world, memory_shape, steps, smoke, tmp.path());
    if (!m.error.empty()) {
      std::printf("| %-14s | failed: %s\n", mode.c_str(), m.error.c_str());
      continue;
    }
    const double state = MaxOf(m, "model_state_bytes");
    const double peak = 1024 * MaxOf(m, "peak_kb");
    if (mode == "none") none_state = state;
    const size_t colon = mode.find(':');
    MemoryPlanOptions po;
    po.world_size = world;
    po.sharding = ParseShardingMode(mode.substr(0, colon), "mode").value();
    if (colon != std::string::npos) po.param_dtype = mode.substr(colon + 1);
    po.max_seq_len = memory_shape.seq;
    po.micro_batch_tokens = memory_shape.seq * memory_shape.rows;
    po.dtype = "fp32";
    po.device = "cpu";
    const MemoryPlan plan = PlanMemory(c, po).value();
    std::printf("| %-14s | %17.1f | %7.2fx | %15.1f | %16.1f | %9.2fx | %13.3f |\n", mode.c_str(), Mib(state),
                none_state > 0 ? state / none_state : 0.0, Mib(peak), Mib(static_cast<double>(plan.total)),
                static_cast<double>(plan.total) / peak, MaxOf(m, "comm_s_per_step"));
    std::fflush(stdout);
  }
  // Speed: world 2, 2,048 tokens per rank a step in `speed_micro`
  // micro-batches (rows of 256 tokens).
  const RunShape speed_shape{smoke ? 32 : 256, smoke ? 1 : 8 / speed_micro, smoke ? 2 : speed_micro};
  std::printf("\nspeed at world size 2, %lld tokens per step (%lld per micro-batch):\n\n",
              static_cast<long long>(speed_shape.seq * speed_shape.rows * speed_shape.micro_per_rank * 2),
              static_cast<long long>(speed_shape.seq * speed_shape.rows));
  std::printf("| %-11s | %10s | %8s | %13s | %16s |\n", "sharding", "tokens/s", "vs none", "comm s/step",
              "exposed s/step");
  std::printf("|%s|%s|%s|%s|%s|\n", std::string(13, '-').c_str(), std::string(12, '-').c_str(),
              std::string(10, '-').c_str(), std::string(15, '-').c_str(), std::string(18, '-').c_str());
  double none_rate = 0;
  // Twice, alternating, against drift; full-inline: full without overlap.
  for (const char* mode : {"none", "full", "full-inline", "none", "full", "full-inline"}) {
    const Measured m = Launch(mode, 2, speed_shape, steps, smoke, tmp.path());
    if (!m.error.empty()) {
      std::printf("| %-11s | failed: %s\n", mode, m.error.c_str());
      continue;
    }
    const double rate = m.ranks[0].value("tokens_per_s", 0.0);
    if (std::string(mode) == "none") none_rate = rate;
    std::printf("| %-11s | %10.0f | %7.2fx | %13.3f | %16.3f |\n", mode, rate, none_rate > 0 ? rate / none_rate : 0.0,
                MaxOf(m, "comm_s_per_step"), MaxOf(m, "exposed_comm_s_per_step"));
    std::fflush(stdout);
  }
  std::printf(
      "\nmodel state: parameters, gradients, AdamW moments and the update's scratch as allocated (max over ranks); "
      "peak RSS: VmHWM (max over ranks); ssd plan: its total for the same run (runtime included); comm: time in "
      "collectives on any thread; exposed: the part the compute thread waited for (max over ranks)\n");
  return 0;
}

}  // namespace ssd
