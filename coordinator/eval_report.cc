#include "coordinator/eval_report.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/eval/metrics.h"

namespace ssd {
namespace {

void FillGroup(const PassAtKGroup& g, v1::PassAtKGroup* out) {
  out->set_name(g.name);
  out->set_num_problems(g.num_problems);
  for (const auto& [k, e] : g.pass_at_k) {
    v1::PassAtK* p = out->add_pass_at_k();
    p->set_k(k);
    p->set_value(e.value);
    p->set_ci_low(e.ci_low);
    p->set_ci_high(e.ci_high);
  }
}

}  // namespace

std::string TruncationLabel(const v1::Truncation& t) {
  std::vector<std::string> parts;
  if (t.top_k() > 0) parts.push_back(absl::StrCat("top_k ", t.top_k()));
  if (t.top_p() < 1) parts.push_back(absl::StrCat("top_p ", t.top_p()));
  if (t.min_p() > 0) parts.push_back(absl::StrCat("min_p ", t.min_p()));
  return parts.empty() ? "none" : absl::StrJoin(parts, ", ");
}

v1::EvalReport BuildEvalReport(int round, const v1::EvalSpec& spec, const std::vector<double>& temperatures,
                               const std::vector<v1::Truncation>& truncations,
                               const std::vector<EvalProblemInfo>& problems,
                               const std::vector<v1::EvalOutcome>& outcomes) {
  v1::EvalReport report;
  report.set_round(round);
  std::map<std::string, const EvalProblemInfo*> by_id;
  for (const EvalProblemInfo& p : problems) by_id[p.id] = &p;
  std::vector<int> ks(spec.ks().begin(), spec.ks().end());
  std::vector<TemperatureResults> candidates;
  for (size_t k = 0; k < truncations.size(); ++k) {
    for (double t : temperatures) {
      TemperatureResults tr;
      tr.temperature = t;
      tr.setting = truncations.size() > 1 ? TruncationLabel(truncations[k]) : "";
      for (const v1::EvalOutcome& o : outcomes) {
        if (o.temperature() != t || o.truncation() != static_cast<int32_t>(k)) continue;
        auto it = by_id.find(o.problem_id());
        ProblemOutcome po;
        po.question_id = o.problem_id();
        po.difficulty = it != by_id.end() ? it->second->difficulty : "";
        po.n = o.n();
        po.c = o.c();
        tr.outcomes.push_back(po);
      }
      const PassAtKReport r = ComputePassAtK(tr.outcomes, ks);
      v1::TemperatureReport* out = report.add_temperatures();
      out->set_temperature(t);
      *out->mutable_truncation() = truncations[k];
      FillGroup(r.overall, out->add_groups());
      for (const PassAtKGroup& g : r.by_difficulty) FillGroup(g, out->add_groups());
      candidates.push_back(std::move(tr));
    }
  }
  HeldOutSplit split;
  split.held_out_fraction = spec.held_out_fraction();
  split.seed = spec.split_seed();
  auto sel = SelectBestTemperature(candidates, split);
  if (sel.ok()) {
    report.set_chosen_temperature(sel->temperature);
    *report.mutable_chosen_truncation() = report.temperatures(sel->index).truncation();
    report.mutable_held_out_pass_at_1()->set_k(1);
    report.mutable_held_out_pass_at_1()->set_value(sel->held_out_pass_at_1.value);
    report.mutable_held_out_pass_at_1()->set_ci_low(sel->held_out_pass_at_1.ci_low);
    report.mutable_held_out_pass_at_1()->set_ci_high(sel->held_out_pass_at_1.ci_high);
    report.set_tune_problems(sel->tune_problems);
    report.set_held_out_problems(sel->held_out_problems);
    const PassAtKReport held = ComputePassAtK(sel->held_out, ks);
    FillGroup(held.overall, report.add_held_out_groups());
    for (const PassAtKGroup& g : held.by_difficulty) FillGroup(g, report.add_held_out_groups());
  } else {
    report.set_chosen_temperature(temperatures.empty() ? 0 : temperatures.front());
    if (!truncations.empty()) *report.mutable_chosen_truncation() = truncations.front();
    report.set_note(std::string(sel.status().message()));
  }
  return report;
}

std::string FormatEvalReport(const v1::EvalReport& report) {
  std::string out = absl::StrCat(report.round() == 0 ? "base model" : absl::StrCat("round ", report.round()), "\n");
  absl::StrAppend(&out, "| T | truncation | group | problems |");
  int max_ks = 0;
  const v1::PassAtKGroup* header = nullptr;
  for (const auto& t : report.temperatures()) {
    for (const auto& g : t.groups()) {
      if (g.pass_at_k_size() > max_ks) {
        max_ks = g.pass_at_k_size();
        header = &g;
      }
    }
  }
  if (header != nullptr) {
    for (const auto& p : header->pass_at_k()) absl::StrAppend(&out, " pass@", p.k(), " |");
  }
  absl::StrAppend(&out, "\n|---|---|---|---|");
  for (int i = 0; i < max_ks; ++i) absl::StrAppend(&out, "---|");
  absl::StrAppend(&out, "\n");
  for (const auto& t : report.temperatures()) {
    for (const auto& g : t.groups()) {
      absl::StrAppend(&out, absl::StrFormat("| %.2f | %s | %s | %d |", t.temperature(), TruncationLabel(t.truncation()),
                                            g.name(), g.num_problems()));
      for (const auto& p : g.pass_at_k()) {
        absl::StrAppend(&out,
                        absl::StrFormat(" %.1f [%.1f, %.1f] |", 100 * p.value(), 100 * p.ci_low(), 100 * p.ci_high()));
      }
      absl::StrAppend(&out, "\n");
    }
  }
  if (report.note().empty()) {
    absl::StrAppend(&out, absl::StrFormat("chosen T = %.2f, truncation %s on %d tuning problems; held-out pass@1 "
                                          "%.1f%% [%.1f, %.1f] on %d problems\n",
                                          report.chosen_temperature(), TruncationLabel(report.chosen_truncation()),
                                          report.tune_problems(), 100 * report.held_out_pass_at_1().value(),
                                          100 * report.held_out_pass_at_1().ci_low(),
                                          100 * report.held_out_pass_at_1().ci_high(), report.held_out_problems()));
  } else {
    absl::StrAppend(&out, "no temperature selection: ", report.note(), "\n");
  }
  return out;
}

}  // namespace ssd
