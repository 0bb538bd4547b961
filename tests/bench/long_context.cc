#include "tests/bench/long_context.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/model/decoder.h"
#include "common/util/process_group.h"
#include "nlohmann/json.hpp"
#include "tests/bench/bench_util.h"
#include "tests/testing/tensor_bytes.h"
#include "tests/testing/subprocess.h"
#include "trainer_worker/adamw.h"
#include "trainer_worker/memory_plan.h"
#include "trainer_worker/trainer.h"

namespace ssd {
namespace {

// The model: hidden 256, 4 layers, a 32,000-token vocabulary; 4
// query heads of 64 over 2 kv heads.
ModelConfig LongContextConfig(bool smoke) {
  ModelConfig c = BenchModelConfig(smoke);
  if (!smoke) {
    c.num_hidden_layers = 4;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 64;
  }
  return c;
}

// How a run trains: the three changes on (checkpointing full), the same
// without checkpointing, and the trainer as it was before them (every
// activation kept, each document's full causal scores, the [T, V] logits).
enum class Mode { kFull, kNone, kBefore };

const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kFull: return "full";
    case Mode::kNone: return "none";
    case Mode::kBefore: return "before";
  }
  return "?";
}

struct Run {
  at::Tensor ids, targets;
  AttentionLayout layout;
};

Run OneSequence(const ModelConfig& c, int64_t T) {
  Run r;
  r.ids = at::randint(c.vocab_size, {1, T}, at::kLong);
  r.targets = r.ids.roll(-1, 1).clone();
  r.targets[0][T - 1] = kIgnoreTarget;
  r.layout = AttentionLayout::Packed({{T}}, T);
  return r;
}

// Forward and backward of one sequence: the loss of a training step (the
// optimizer's update is per parameter, the same whatever T).
void Step(const Decoder& model, const Run& r, Mode mode) {
  ActivationCheckpointing ac;
  ac.every = mode == Mode::kFull ? 1 : 0;
  at::Tensor hidden = model.ForwardHidden(r.ids, r.layout, ac);
  at::Tensor loss;
  if (mode == Mode::kBefore) {
    loss = at::cross_entropy_loss(model.Logits(hidden).view({-1, model.config().vocab_size}), r.targets.view(-1), {},
                                  at::Reduction::Sum, kIgnoreTarget);
  } else {
    loss = TokenLossSum(model, hidden, r.targets);
  }
  loss.backward();
}

std::unique_ptr<Decoder> TrainableModel(const ModelConfig& c, bool blockwise) {
  DecoderOptions o;
  o.blockwise_attention = blockwise;
  std::unique_ptr<Decoder> model = Decoder::RandomInit(c, 1, 0.02, o).value();
  for (auto& [name, p] : model->Parameters()) {
    p.requires_grad_(true);
    p.mutable_grad() = at::zeros_like(p);  // the trainer's gradient buffers
  }
  return model;
}

// The child: one training step at T in `mode` (forward, backward and the
// AdamW update, its moments made first as in a run past its first step),
// one JSON line on stdout. RSS and live tensor bytes, in KiB: at the start,
// once the model, its gradient buffers, the moments and the inputs exist,
// and at the step's peak.
int Child(int64_t T, Mode mode, int threads, bool smoke) {
  at::set_num_threads(threads);
  KeepFreedMemoryForReuse();
  nlohmann::json out;
  out["start_kb"] = ProcessStatusKib(getpid(), "VmRSS");
  TensorBytesTracker tensors;
  const ModelConfig c = LongContextConfig(smoke);
  std::unique_ptr<Decoder> model = TrainableModel(c, mode != Mode::kBefore);
  AdamW adamw(model->Parameters(), AdamWOptions{});
  at::manual_seed(2);
  const Run r = OneSequence(c, T);
  out["T"] = T;
  out["mode"] = ModeName(mode);
  out["model_kb"] = ProcessStatusKib(getpid(), "VmRSS");
  out["tensor_model_kb"] = tensors.current() / 1024;
  tensors.ResetPeak();
  try {
    at::AutoGradMode grad(true);
    out["step_s"] = Seconds([&] {
      Step(*model, r, mode);
      adamw.Step(1e-5);
    });
  } catch (const std::exception& e) {
    std::string what = e.what();
    out["error"] = what.substr(0, what.find('\n'));
  }
  out["peak_kb"] = ProcessStatusKib(getpid(), "VmHWM");
  out["tensor_peak_kb"] = tensors.peak() / 1024;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

nlohmann::json RunChild(int64_t T, Mode mode, int threads, double limit_gb, bool smoke) {
  std::vector<std::string> argv = {SelfExecutable(), "--long-context-child",  std::to_string(T),
                                   ModeName(mode),   std::to_string(threads), absl::StrCat(limit_gb)};
  if (smoke) argv.push_back("--smoke");
  const ProcessResult p = RunProcess(argv, 3600);
  nlohmann::json j = nlohmann::json::parse(p.out, nullptr, false);
  if (p.exit_code != 0 || j.is_discarded()) {
    j = nlohmann::json::object();
    j["T"] = T;
    j["mode"] = ModeName(mode);
    j["error"] = p.signal != 0 ? absl::StrCat("killed by signal ", p.signal)
                               : absl::StrCat("exit ", p.exit_code, ": ", p.err.substr(0, 300));
  }
  return j;
}

double AboveModelMib(const nlohmann::json& j) {
  return (j.value("peak_kb", int64_t{0}) - j.value("model_kb", int64_t{0})) / 1024.0;
}

std::string Cell(const nlohmann::json& j, const std::string& what) {
  if (j.contains("error")) return "does not fit";
  if (what == "mib") return absl::StrCat(static_cast<int64_t>(AboveModelMib(j)), " MiB");
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", j.value("step_s", 0.0));
  return buf;
}

// Median ms of forward + backward, `a` and `b` alternating in this process.
std::pair<double, double> AlternatingMs(const std::function<void()>& a, const std::function<void()>& b, int reps) {
  std::vector<double> ta, tb;
  a();
  b();
  for (int i = 0; i < reps; ++i) {
    ta.push_back(1e3 * Seconds(a));
    tb.push_back(1e3 * Seconds(b));
  }
  std::sort(ta.begin(), ta.end());
  std::sort(tb.begin(), tb.end());
  return {ta[ta.size() / 2], tb[tb.size() / 2]};
}

}  // namespace

int LongContextMain(int argc, char** argv, bool child) {
  bool smoke = false;
  int threads = 2;
  double limit_gb = 16;
  std::vector<int64_t> lengths = {8192, 16384, 32768, 65536};
  if (child) {
    // T MODE THREADS LIMIT_GB [--smoke]
    if (argc < 4) return 2;
    const int64_t T = std::atoll(argv[0]);
    const std::string mode = argv[1];
    threads = std::atoi(argv[2]);
    limit_gb = std::atof(argv[3]);
    smoke = argc > 4 && std::string(argv[4]) == "--smoke";
    rlimit limit{};
    limit.rlim_cur = limit.rlim_max = static_cast<rlim_t>(limit_gb * (1 << 30));
    setrlimit(RLIMIT_AS, &limit);
    return Child(T, mode == "full" ? Mode::kFull : mode == "none" ? Mode::kNone : Mode::kBefore, threads, smoke);
  }
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--smoke") {
      smoke = true;
      lengths = {600, 1200};  // past kFlashBlock, so the blockwise path runs
    } else if (a == "--threads") {
      threads = std::atoi(next().c_str());
    } else if (a == "--limit-gb") {
      limit_gb = std::atof(next().c_str());
    } else if (a == "--lengths") {
      lengths.clear();
      for (absl::string_view s : absl::StrSplit(next(), ',')) {
        int64_t t = 0;
        if (!absl::SimpleAtoi(s, &t) || t < 2) {
          std::fprintf(stderr, "--lengths: \"%s\" is not a length >= 2\n", std::string(s).c_str());
          return 2;
        }
        lengths.push_back(t);
      }
    } else {
      std::fprintf(stderr,
                   "usage: trainer_bench --long-context [--lengths 8192,16384,...] [--threads N] [--limit-gb G] "
                   "[--smoke]\n");
      return 2;
    }
  }
  const ModelConfig c = LongContextConfig(smoke);
  std::printf(
      "trainer_bench --long-context: qwen3 %lld layers, hidden %lld, %lld heads of %lld over %lld kv heads, vocab "
      "%lld (%.1fM params), fp32, %d threads, one sequence per step, each run a fresh process under a %.0f GiB "
      "address-space limit\n\n",
      static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.hidden_size),
      static_cast<long long>(c.num_attention_heads), static_cast<long long>(c.head_dim),
      static_cast<long long>(c.num_key_value_heads), static_cast<long long>(c.vocab_size), c.NumParameters() / 1e6,
      threads, limit_gb);
  std::printf("| %8s | %12s | %17s | %8s | %18s | %8s | %24s | %13s | %12s | %9s |\n", "tokens", "peak RSS MiB",
              "above model MiB", "vs first", "live tensors above", "step s", "before: above model MiB", "before / full",
              "ssd plan MiB", "plan/peak");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", std::string(10, '-').c_str(), std::string(14, '-').c_str(),
              std::string(19, '-').c_str(), std::string(10, '-').c_str(), std::string(20, '-').c_str(),
              std::string(10, '-').c_str(), std::string(26, '-').c_str(), std::string(15, '-').c_str(),
              std::string(14, '-').c_str(), std::string(11, '-').c_str());
  double first = 0;
  bool before_failed = false;
  for (int64_t T : lengths) {
    const nlohmann::json full = RunChild(T, Mode::kFull, threads, limit_gb, smoke);
    // Once the old trainer does not fit, longer runs do not either.
    const nlohmann::json before =
        before_failed ? nlohmann::json{{"error", "skipped"}} : RunChild(T, Mode::kBefore, threads, limit_gb, smoke);
    before_failed = before.contains("error");
    const bool ok = !full.contains("error");
    const double mib = AboveModelMib(full);
    if (first == 0 && ok) first = mib;
    char ratio[32] = "-", vs[32] = "-", peak[32] = "-", live[32] = "-";
    if (ok && first > 0) std::snprintf(vs, sizeof(vs), "%.2fx", mib / first);
    if (ok && !before.contains("error")) std::snprintf(ratio, sizeof(ratio), "%.1fx", AboveModelMib(before) / mib);
    const double peak_mib = full.value("peak_kb", int64_t{0}) / 1024.0;
    if (ok) {
      std::snprintf(peak, sizeof(peak), "%.0f", peak_mib);
      std::snprintf(live, sizeof(live), "%.0f MiB",
                    (full.value("tensor_peak_kb", int64_t{0}) - full.value("tensor_model_kb", int64_t{0})) / 1024.0);
    }
    // ssd plan's total for this run (model state, activations, logits,
    // attention and its CPU runtime term) beside the process's peak RSS.
    MemoryPlanOptions po;
    po.max_seq_len = T;
    po.micro_batch_tokens = T;
    po.activation_checkpointing.every = 1;
    const MemoryPlan plan = PlanMemory(c, po).value();
    const double plan_mib = static_cast<double>(plan.total) / (1 << 20);
    char plan_ratio[32] = "-";
    if (ok && peak_mib > 0) std::snprintf(plan_ratio, sizeof(plan_ratio), "%.2fx", plan_mib / peak_mib);
    std::printf("| %8lld | %12s | %17s | %8s | %18s | %8s | %24s | %13s | %12.0f | %9s |\n", static_cast<long long>(T),
                peak, Cell(full, "mib").c_str(), vs, live, Cell(full, "s").c_str(), Cell(before, "mib").c_str(), ratio,
                plan_mib, plan_ratio);
    if (full.contains("error"))
      std::printf("  full at %lld: %s\n", static_cast<long long>(T), full["error"].dump().c_str());
    if (before.contains("error") && before["error"] != "skipped") {
      std::printf("  before at %lld: %s\n", static_cast<long long>(T), before["error"].dump().c_str());
    }
    std::fflush(stdout);
  }

  // Speed, in this process, alternating the two sides of each ratio.
  at::set_num_threads(threads);
  const int reps = smoke ? 1 : 5;
  auto blockwise = TrainableModel(c, true), masked = TrainableModel(c, false);
  at::AutoGradMode grad(true);
  std::printf("\nforward + backward of one sequence, median of %d, alternating, %d threads:\n\n", reps, threads);
  std::printf("| %-52s | %10s | %10s | %8s |\n", "comparison", "baseline ms", "ms", "ratio");
  std::printf("|%s|%s|%s|%s|\n", std::string(54, '-').c_str(), std::string(12, '-').c_str(),
              std::string(12, '-').c_str(), std::string(10, '-').c_str());
  const int64_t short_t = smoke ? 600 : 2048;
  const Run at_short = OneSequence(c, short_t);
  auto [none_ms, full_ms] = AlternatingMs([&] { Step(*blockwise, at_short, Mode::kNone); },
                                          [&] { Step(*blockwise, at_short, Mode::kFull); }, reps);
  std::printf("| %-52s | %10.1f | %10.1f | %7.2fx |\n",
              absl::StrCat("checkpointing full vs none, ", short_t, " tokens").c_str(), none_ms, full_ms,
              full_ms / none_ms);
  for (int64_t T : {short_t, 4 * short_t}) {
    const Run r = OneSequence(c, T);
    auto [old_ms, new_ms] =
        AlternatingMs([&] { Step(*masked, r, Mode::kNone); }, [&] { Step(*blockwise, r, Mode::kNone); }, reps);
    std::printf("| %-52s | %10.1f | %10.1f | %7.2fx |\n",
                absl::StrCat("blockwise vs masked attention, ", T, " tokens").c_str(), old_ms, new_ms, new_ms / old_ms);
  }
  std::printf("\nratio: ms / baseline ms (below 1: faster than the baseline)\n");
  return 0;
}

}  // namespace ssd
