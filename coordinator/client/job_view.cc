#include "coordinator/client/job_view.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "coordinator/client/api_json.h"
#include "coordinator/eval_report.h"
#include "coordinator/job_state.h"

namespace ssd {
namespace {

std::string Bar(double fraction, int width = 24) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int filled = static_cast<int>(std::lround(fraction * width));
  return absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '-'), "]");
}

std::string Age(int64_t since_ms, int64_t now_ms) {
  const double s = std::max<int64_t>(0, now_ms - since_ms) / 1000.0;
  if (s < 120) return absl::StrFormat("%ds", static_cast<int>(s));
  if (s < 7200) return absl::StrFormat("%dm", static_cast<int>(s / 60));
  if (s < 172800) return absl::StrFormat("%dh", static_cast<int>(s / 3600));
  return absl::StrFormat("%dd", static_cast<int>(s / 86400));
}

std::string Eta(double remaining, double rate) {
  if (rate <= 0 || remaining <= 0) return remaining <= 0 ? "" : "  ETA --";
  return absl::StrCat("  ETA ", FormatDuration(remaining / rate));
}

std::string Pad(const std::string& s, size_t w) { return s.size() >= w ? s + " " : s + std::string(w - s.size(), ' '); }

std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& r : rows) {
    widths.resize(std::max(widths.size(), r.size()));
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], r[i].size() + 2);
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) line += i + 1 == r.size() ? r[i] : Pad(r[i], widths[i]);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

// "           sharding full  peak RSS by rank 1.21 1.19 GiB" when the job
// shards or a rank has reported its peak; "" otherwise.
std::string TrainMemory(const v1::Job& j) {
  const v1::Sharding sharding = j.spec().train().sharding();
  const auto& peaks = j.progress().train_rank_peak_rss_bytes();
  const bool sharded = sharding != v1::SHARDING_UNSPECIFIED && sharding != v1::SHARDING_NONE;
  if (!sharded && peaks.empty()) return "";
  std::string out = "           ";
  if (sharded) {
    const auto* value = v1::Sharding_descriptor()->FindValueByNumber(sharding);
    absl::StrAppend(&out, "sharding ",
                    value != nullptr ? absl::AsciiStrToLower(ShortEnumName(*value)) : absl::StrCat(sharding));
  }
  if (!peaks.empty()) {
    absl::StrAppend(&out, sharded ? "  " : "", "peak RSS by rank");
    for (int64_t b : peaks) absl::StrAppend(&out, b > 0 ? absl::StrFormat(" %.2f", b / double{1 << 30}) : " -");
    absl::StrAppend(&out, " GiB");
  }
  return out + "\n";
}

// "           experts max/mean 3.41 (layer 17, 5 of 128 idle)  aux 0.0021"
// for a mixture of experts, from the last step's worst layer; "" otherwise.
std::string ExpertLoadLine(const v1::Job& j) {
  if (!j.progress().has_train_expert_load()) return "";
  const v1::ExpertLoadSummary& l = j.progress().train_expert_load();
  std::string out = absl::StrFormat("           experts max/mean %.2f (layer %d, %d of %d idle)", l.max_over_mean(),
                                    l.layer(), l.dead_experts(), l.num_experts());
  if (l.aux_loss() > 0) absl::StrAppend(&out, absl::StrFormat("  aux %.4g", l.aux_loss()));
  return out + "\n";
}

// TRAINING before the first step: how long the job has waited, and the
// trainers registered against the ones the spec asks for.
std::string TrainerWait(const v1::Job& j, int64_t now_ms) {
  const int32_t want = j.spec().train().trainers();
  const int32_t have = j.progress().trainers_registered();
  const std::string waited = FormatDuration((now_ms - j.state_since_unix_ms()) / 1000.0);
  if (have < want) {
    return absl::StrFormat("  train    waiting %s for trainers: %d registered, train.trainers asks for %d\n", waited,
                           have, want);
  }
  return absl::StrFormat("  train    waiting %s for %d free trainer(s) (%d registered)\n", waited, want, have);
}

std::string StageSummary(const v1::Job& j) {
  const v1::StageProgress& p = j.progress();
  switch (j.state()) {
    case v1::JOB_STATE_SAMPLING:
    case v1::JOB_STATE_EVALUATING: return absl::StrFormat("%d/%d shards", p.shards_done(), p.shards_total());
    case v1::JOB_STATE_TRAINING:
      return p.train_total_steps() > 0 ? absl::StrFormat("step %d/%d", p.train_step(), p.train_total_steps())
                                       : absl::StrFormat("waiting for trainers (%d/%d)", p.trainers_registered(),
                                                         j.spec().train().trainers());
    case v1::JOB_STATE_PUSHING:
      return absl::StrFormat("%d/%d samplers", p.push_samplers_done(), p.push_samplers_total());
    default: return "";
  }
}

}  // namespace

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

int ExitCodeFor(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_SUCCEEDED: return kExitSucceeded;
    case v1::JOB_STATE_CANCELLED: return kExitCancelled;
    default: return kExitFailed;
  }
}

std::string FormatJobsTable(const v1::ListJobsResponse& jobs, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows = {{"JOB", "NAME", "STATE", "ROUND", "PROGRESS", "AGE"}};
  for (const v1::Job& j : jobs.jobs()) {
    rows.push_back({j.id(), j.spec().name().empty() ? "-" : j.spec().name(), JobStateName(j.state()),
                    absl::StrCat(j.round(), "/", j.spec().rounds()), StageSummary(j),
                    Age(j.created_unix_ms(), now_ms)});
  }
  if (jobs.jobs_size() == 0) return "no jobs\n";
  return Table(rows);
}

std::string FormatJobDetails(const v1::Job& j, int64_t now_ms) {
  std::string out;
  absl::StrAppend(&out, "job:       ", j.id(), j.spec().name().empty() ? "" : absl::StrCat("  (", j.spec().name(), ")"),
                  "\n");
  absl::StrAppend(&out, "state:     ", JobStateName(j.state()), " for ", Age(j.state_since_unix_ms(), now_ms),
                  ", round ", j.round(), " of ", j.spec().rounds(), "\n");
  absl::StrAppend(&out, "model:     ", j.spec().model(), "\n");
  absl::StrAppend(&out, "problems:  ", j.num_problems(), j.imported() ? " (imported)" : "",
                  j.spec().has_eval() ? absl::StrCat(", eval problems: ", j.num_eval_problems()) : "", "\n");
  const v1::SamplingSpec& s = j.spec().sampling();
  absl::StrAppend(&out, absl::StrFormat("sampling:  T %g, top_k %d, top_p %g, min_p %g, n %d, max_tokens %d\n",
                                        s.temperature(), s.top_k(), s.top_p(), s.min_p(), s.n(), s.max_tokens()));
  if (!j.error().empty()) absl::StrAppend(&out, "error:     ", j.error(), "\n");
  if (!IsTerminal(j.state())) {
    WatchView v;
    absl::StrAppend(&out, v.Render(j, now_ms));
  }
  for (const v1::RoundStatus& r : j.rounds()) {
    absl::StrAppend(&out, "round ", r.round(), ": ", r.samples(), " samples");
    if (r.has_filter()) {
      absl::StrAppend(&out, absl::StrFormat(", filter kept %d (dropped %d empty, %d single-line, %d shortest)",
                                            r.filter().survivors(), r.filter().dropped_empty(),
                                            r.filter().dropped_single_line(), r.filter().dropped_short()));
    }
    if (r.train_steps() > 0)
      absl::StrAppend(&out, absl::StrFormat(", %d steps, loss %.4f", r.train_steps(), r.final_loss()));
    if (!r.model_path().empty()) absl::StrAppend(&out, ", model ", r.model_path());
    absl::StrAppend(&out, "\n");
  }
  for (const v1::EvalReport& e : j.evals()) absl::StrAppend(&out, FormatEvalReport(e));
  return out;
}

std::string FormatWorkersTable(const v1::ListWorkersResponse& workers, int64_t now_ms) {
  if (workers.workers_size() == 0) return "no workers\n";
  std::vector<std::vector<std::string>> rows = {
      {"WORKER", "ROLE", "STATE", "ADDRESS", "DEVICE", "LEASES", "WEIGHTS", "SEEN", "NO WORK BECAUSE"}};
  for (const v1::WorkerStatus& w : workers.workers()) {
    std::vector<std::string> leases, weights;
    for (const v1::LeaseRef& l : w.leases()) {
      leases.push_back(absl::StrCat(l.job_id(), "/r", l.round(), "/", LeaseKindName(l.kind()),
                                    l.kind() <= v1::LEASE_KIND_EVAL ? absl::StrCat("#", l.shard()) : ""));
    }
    for (const v1::WeightsRef& r : w.weights_held()) weights.push_back(absl::StrCat(r.job_id(), "@v", r.version()));
    rows.push_back(
        {w.worker_id(), WorkerRoleName(w.role()), WorkerStateName(w.state()), w.address().empty() ? "-" : w.address(),
         w.capabilities().device().empty() ? "-" : w.capabilities().device(),
         leases.empty() ? "-" : absl::StrJoin(leases, ","), weights.empty() ? "-" : absl::StrJoin(weights, ","),
         absl::StrCat(Age(w.last_heartbeat_unix_ms(), now_ms), " ago"),
         w.unhealthy().empty() ? "-" : std::string(w.unhealthy().substr(0, std::min<size_t>(100, w.unhealthy().find('\n'))))});
  }
  return Table(rows);
}

std::string WatchView::Render(const v1::Job& j, int64_t now_ms) {
  const v1::StageProgress& p = j.progress();
  std::string out = absl::StrFormat("%s  %s  round %d/%d  %s in state\n", j.id(), JobStateName(j.state()), j.round(),
                                    j.spec().rounds(), FormatDuration((now_ms - j.state_since_unix_ms()) / 1000.0));
  switch (j.state()) {
    case v1::JOB_STATE_SAMPLING:
    case v1::JOB_STATE_EVALUATING: {
      const double sf = p.shards_total() > 0 ? static_cast<double>(p.shards_done()) / p.shards_total() : 0;
      absl::StrAppend(&out, absl::StrFormat("  shards   %s %d/%d  (%d leased)\n", Bar(sf), p.shards_done(),
                                            p.shards_total(), p.shards_leased()));
      const double f = p.samples_total() > 0 ? static_cast<double>(p.samples_done()) / p.samples_total() : 0;
      std::string rate;
      if (j.state() == v1::JOB_STATE_SAMPLING) {
        rate = absl::StrFormat("  %.1f samples/s  %.0f tokens/s", p.samples_per_s(), p.tokens_per_s());
      }
      absl::StrAppend(
          &out, absl::StrFormat("  %s  %s %d/%d%s%s\n", j.state() == v1::JOB_STATE_SAMPLING ? "samples" : "graded ",
                                Bar(f), p.samples_done(), p.samples_total(), rate,
                                j.state() == v1::JOB_STATE_SAMPLING
                                    ? Eta(static_cast<double>(p.samples_total() - p.samples_done()), p.samples_per_s())
                                    : ""));
      break;
    }
    case v1::JOB_STATE_TRAINING: {
      if (p.train_total_steps() == 0) {
        absl::StrAppend(&out, TrainerWait(j, now_ms));
        break;
      }
      if (step_round_ != j.round() || p.train_step() < first_step_.step) {
        step_round_ = j.round();
        first_step_ = {now_ms, p.train_step()};
      }
      const double dt = (now_ms - first_step_.t_ms) / 1000.0;
      const double steps_per_s = dt > 0 ? (p.train_step() - first_step_.step) / dt : 0;
      const double f = static_cast<double>(p.train_step()) / p.train_total_steps();
      absl::StrAppend(&out,
                      absl::StrFormat("  train    %s step %d/%d  loss %.4f  %.0f tokens/s%s\n", Bar(f), p.train_step(),
                                      p.train_total_steps(), p.train_loss(), p.train_tokens_per_s(),
                                      Eta(static_cast<double>(p.train_total_steps() - p.train_step()), steps_per_s)));
      absl::StrAppend(&out, TrainMemory(j), ExpertLoadLine(j));
      break;
    }
    case v1::JOB_STATE_PUSHING: {
      const double f = p.push_bytes_total() > 0 ? static_cast<double>(p.push_bytes_done()) / p.push_bytes_total() : 0;
      absl::StrAppend(&out,
                      absl::StrFormat("  push     %s %.1f/%.1f MB  %d/%d samplers\n", Bar(f), p.push_bytes_done() / 1e6,
                                      p.push_bytes_total() / 1e6, p.push_samplers_done(), p.push_samplers_total()));
      break;
    }
    default: break;
  }
  return out;
}

}  // namespace ssd
