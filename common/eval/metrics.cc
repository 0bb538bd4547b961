#include "common/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/hash.h"
#include "common/util/splitmix64.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

double MeanPassAtK(const std::vector<ProblemOutcome>& outcomes, int k) {
  if (outcomes.empty()) return 0;
  double sum = 0;
  for (const ProblemOutcome& o : outcomes) sum += PassAtK(o.n, o.c, k);
  return sum / outcomes.size();
}

PassAtKGroup MakeGroup(std::string name, const std::vector<ProblemOutcome>& outcomes, const std::vector<int>& ks,
                       const BootstrapOptions& options) {
  PassAtKGroup g;
  g.name = std::move(name);
  g.num_problems = static_cast<int>(outcomes.size());
  if (outcomes.empty()) return g;
  g.min_samples = outcomes[0].n;
  for (const ProblemOutcome& o : outcomes) g.min_samples = std::min(g.min_samples, o.n);
  for (int k : ks) {
    if (k < 1 || k > g.min_samples) continue;
    std::vector<double> per_problem;
    per_problem.reserve(outcomes.size());
    for (const ProblemOutcome& o : outcomes) per_problem.push_back(PassAtK(o.n, o.c, k));
    g.pass_at_k[k] = BootstrapMean(per_problem, options);
  }
  return g;
}

uint64_t Fnv1a(uint64_t seed, absl::string_view s) {
  const uint64_t h = Fnv1a64(s, Fnv1a64Word(seed));
  // FNV's high bits barely depend on the last bytes ("q1" vs "q2"): mix them
  // with splitmix64's finalizer.
  return SplitMix64Finalize(h);
}

}  // namespace

double PassAtK(int n, int c, int k) {
  if (n - c < k) return 1.0;
  // 1 - prod_{i=n-c+1}^{n} (1 - k/i): the ratio of binomials without
  // overflowing them.
  double fail = 1.0;
  for (int i = n - c + 1; i <= n; ++i) fail *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - fail;
}

std::vector<ProblemOutcome> TallyOutcomes(const Benchmark& benchmark, const std::vector<SolutionResult>& results) {
  std::vector<ProblemOutcome> out;
  absl::flat_hash_map<std::string, size_t> at;
  for (const SolutionResult& r : results) {
    if (!r.error.empty()) continue;
    auto [it, inserted] = at.try_emplace(r.question_id, out.size());
    if (inserted) {
      ProblemOutcome o;
      o.question_id = r.question_id;
      if (const Problem* p = benchmark.Find(r.question_id)) o.difficulty = p->difficulty;
      out.push_back(std::move(o));
    }
    ProblemOutcome& o = out[it->second];
    ++o.n;
    if (r.passed) ++o.c;
  }
  return out;
}

absl::Status BootstrapOptions::Validate() const {
  if (resamples < 100) return absl::InvalidArgumentError("resamples: must be at least 100");
  if (!(confidence > 0 && confidence < 1)) return absl::InvalidArgumentError("confidence: must be in (0, 1)");
  return absl::OkStatus();
}

Estimate BootstrapMean(const std::vector<double>& values, const BootstrapOptions& options) {
  Estimate e;
  if (values.empty()) return e;
  double sum = 0;
  for (double v : values) sum += v;
  e.value = sum / values.size();
  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  std::vector<double> means(static_cast<size_t>(std::max(options.resamples, 1)));
  for (double& m : means) {
    double s = 0;
    for (size_t i = 0; i < values.size(); ++i) s += values[pick(rng)];
    m = s / values.size();
  }
  std::sort(means.begin(), means.end());
  const double tail = (1 - options.confidence) / 2;
  auto at = [&](double q) {
    const size_t i = static_cast<size_t>(std::floor(q * (means.size() - 1) + 0.5));
    return means[std::min(i, means.size() - 1)];
  };
  e.ci_low = at(tail);
  e.ci_high = at(1 - tail);
  return e;
}

PassAtKReport ComputePassAtK(const std::vector<ProblemOutcome>& outcomes, const std::vector<int>& ks,
                             const BootstrapOptions& options) {
  PassAtKReport r;
  r.overall = MakeGroup("overall", outcomes, ks, options);
  std::vector<std::string> order = {"easy", "medium", "hard"};
  absl::flat_hash_map<std::string, std::vector<ProblemOutcome>> groups;
  for (const ProblemOutcome& o : outcomes) {
    const std::string d = o.difficulty.empty() ? "unknown" : o.difficulty;
    if (std::find(order.begin(), order.end(), d) == order.end()) order.push_back(d);
    groups[d].push_back(o);
  }
  for (const std::string& d : order) {
    auto it = groups.find(d);
    if (it != groups.end()) r.by_difficulty.push_back(MakeGroup(d, it->second, ks, options));
  }
  return r;
}

nlohmann::json PassAtKReportToJson(const PassAtKReport& report) {
  auto group = [](const PassAtKGroup& g) {
    nlohmann::json j;
    j["problems"] = g.num_problems;
    j["min_samples"] = g.min_samples;
    nlohmann::json ks = nlohmann::json::object();
    for (const auto& [k, e] : g.pass_at_k) {
      ks[absl::StrCat("pass@", k)] = {{"value", e.value}, {"ci95", {e.ci_low, e.ci_high}}};
    }
    j["pass_at_k"] = std::move(ks);
    return j;
  };
  nlohmann::json j;
  j["overall"] = group(report.overall);
  nlohmann::json by = nlohmann::json::object();
  for (const PassAtKGroup& g : report.by_difficulty) by[g.name] = group(g);
  j["by_difficulty"] = std::move(by);
  return j;
}

std::string FormatPassAtKTable(const PassAtKReport& report) {
  std::vector<int> ks;
  for (const auto& [k, e] : report.overall.pass_at_k) ks.push_back(k);
  std::string out = "| group | problems |";
  std::string rule = "|---|---:|";
  for (int k : ks) {
    absl::StrAppend(&out, " pass@", k, " (95% CI) |");
    rule += "---:|";
  }
  absl::StrAppend(&out, "\n", rule, "\n");
  std::vector<const PassAtKGroup*> rows = {&report.overall};
  for (const PassAtKGroup& g : report.by_difficulty) rows.push_back(&g);
  for (const PassAtKGroup* g : rows) {
    absl::StrAppend(&out, "| ", g->name, " | ", g->num_problems, " |");
    for (int k : ks) {
      auto it = g->pass_at_k.find(k);
      if (it == g->pass_at_k.end()) {
        out += " - |";
      } else {
        absl::StrAppend(&out, absl::StrFormat(" %.1f%% [%.1f, %.1f] |", 100 * it->second.value, 100 * it->second.ci_low,
                                              100 * it->second.ci_high));
      }
    }
    out += "\n";
  }
  return out;
}

bool HeldOutSplit::IsHeldOut(absl::string_view question_id) const {
  // The top 53 bits of the hash as a uniform number in [0, 1).
  const double u = static_cast<double>(Fnv1a(seed, question_id) >> 11) * 0x1.0p-53;
  return u < held_out_fraction;
}

absl::Status HeldOutSplit::Validate() const {
  if (!(held_out_fraction > 0 && held_out_fraction < 1)) {
    return absl::InvalidArgumentError("held_out_fraction: must be in (0, 1)");
  }
  return absl::OkStatus();
}

absl::StatusOr<TemperatureSelection> SelectBestTemperature(const std::vector<TemperatureResults>& candidates,
                                                           const HeldOutSplit& split, const BootstrapOptions& options) {
  RETURN_IF_ERROR(split.Validate());
  RETURN_IF_ERROR(options.Validate());
  if (candidates.empty()) return absl::InvalidArgumentError("no temperatures to choose from");
  std::set<std::pair<double, std::string>> seen;
  TemperatureSelection sel;
  const TemperatureResults* best = nullptr;
  double best_score = -1;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const TemperatureResults& t = candidates[i];
    const std::string name =
        absl::StrCat("temperature ", t.temperature, t.setting.empty() ? "" : absl::StrCat(" (", t.setting, ")"));
    if (!seen.emplace(t.temperature, t.setting).second) {
      return absl::InvalidArgumentError(absl::StrCat(name, " appears twice"));
    }
    std::vector<ProblemOutcome> tune, held;
    for (const ProblemOutcome& o : t.outcomes) {
      if (o.n < 1) return absl::InvalidArgumentError(absl::StrCat(name, ": ", o.question_id, " has no samples"));
      (split.IsHeldOut(o.question_id) ? held : tune).push_back(o);
    }
    if (tune.empty() || held.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": the split leaves ", tune.size(), " tuning and ",
                                                     held.size(), " held-out problems; both must be non-empty"));
    }
    const double score = MeanPassAtK(tune, 1);
    sel.tune_pass_at_1.emplace_back(t.temperature, score);
    if (best == nullptr || score > best_score || (score == best_score && t.temperature < best->temperature)) {
      best = &t;
      best_score = score;
      sel.index = static_cast<int>(i);
      sel.held_out = std::move(held);
      sel.tune_problems = static_cast<int>(tune.size());
    }
  }
  sel.temperature = best->temperature;
  sel.held_out_problems = static_cast<int>(sel.held_out.size());
  std::vector<double> per_problem;
  for (const ProblemOutcome& o : sel.held_out) per_problem.push_back(PassAtK(o.n, o.c, 1));
  sel.held_out_pass_at_1 = BootstrapMean(per_problem, options);
  return sel;
}

}  // namespace ssd
