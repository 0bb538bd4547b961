// ReportWork: a worker's report on a lease it holds. The dispatcher checks
// who calls and the lease they name, then hands the report to its handler;
// each handler says which lease kinds it takes.
#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/coordinator.h"
#include "coordinator/job_spec.h"
#include "coordinator/job_state.h"
#include "coordinator/store_schema.h"

namespace ssd {
namespace {

bool IsShardKind(v1::LeaseKind k) { return k == v1::LEASE_KIND_SAMPLE || k == v1::LEASE_KIND_EVAL; }

int RankOf(const Shard& s, const WorkerEntry& w) {
  const auto& g = s.rec.group();
  return static_cast<int>(std::find(g.begin(), g.end(), w.id()) - g.begin());
}

}  // namespace

void Coordinator::ReportWork(const v1::WorkerCredentials& who, const v1::ReportWorkRequest& request,
                             Done<v1::ReportWorkResponse> done) {
  Pending pending;
  absl::StatusOr<v1::ReportWorkResponse> result;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status h = Health(); !h.ok()) return done(h);
    auto w = workers_.Authenticate(who.worker_id(), who.session());
    if (!w.ok()) return done(w.status());
    auto checked = CheckLease(request.lease(), **w);
    if (!checked.ok()) {
      result = checked.status();
    } else {
      JobEntry& e = *checked->first;
      Shard& s = *checked->second;
      absl::Status st;
      switch (request.report_case()) {
        case v1::ReportWorkRequest::kShardDone: st = OnShardDone(e, s, **w, request.shard_done()); break;
        case v1::ReportWorkRequest::kFailed: st = OnFailed(e, s, **w, request); break;
        case v1::ReportWorkRequest::kTrainingProgress:
          st = OnTrainingProgress(e, s, **w, request.training_progress());
          break;
        case v1::ReportWorkRequest::kTrainingDone: st = OnTrainingDone(e, s, **w, request.training_done()); break;
        case v1::ReportWorkRequest::kPushProgress: st = OnPushProgress(e, s, **w, request.push_progress()); break;
        case v1::ReportWorkRequest::kPushDone: st = OnPushDone(e, s, **w, request.push_done()); break;
        default: st = absl::InvalidArgumentError("report: none of shard_done, failed, training_*, push_* is set");
      }
      if (st.ok()) {
        v1::ReportWorkResponse r;
        r.set_job_state(e.job.state());
        result = std::move(r);
      } else {
        result = st;
      }
    }
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

absl::Status Coordinator::OnShardDone(JobEntry& e, Shard& s, WorkerEntry& w, const v1::ShardDone& done) {
  if (!IsShardKind(s.rec.kind())) return absl::InvalidArgumentError("shard_done: only for sample and eval leases");
  const int32_t first = s.rec.first_problem();
  const int32_t count = s.rec.num_problems();
  if (s.rec.kind() == v1::LEASE_KIND_SAMPLE) {
    if (done.eval_outcomes_size() > 0) return absl::InvalidArgumentError("eval_outcomes: only for eval shards");
    const SampleRound& r = samples_.Round(e, s.rec.round());
    std::vector<std::string> missing;
    int64_t n_missing = 0;
    for (int32_t p = first; p < first + count; ++p) {
      for (int64_t i = 0; i < r.n; ++i) {
        if (r.Has(static_cast<int64_t>(p) * r.n + i)) continue;
        if (++n_missing <= 5) missing.push_back(absl::StrCat("\"", e.problems[static_cast<size_t>(p)].id(), "\"#", i));
      }
    }
    if (n_missing > 0) {
      return absl::FailedPreconditionError(absl::StrCat(LeaseTable::Describe(LeaseTable::RefOf(s.rec)), " misses ",
                                                        n_missing, " sample(s) (", absl::StrJoin(missing, ", "),
                                                        n_missing > 5 ? ", ..." : "",
                                                        "): append them before reporting the shard done"));
    }
  } else {
    const std::vector<double> temps = e.EvalTemperatures(s.rec.round());
    const size_t ntrunc = EvalTruncations(e.job.spec().eval()).size();
    const int64_t n = e.job.spec().eval().n();
    // Keyed by (problem, setting); setting = truncation x temperatures + temperature.
    std::map<std::pair<uint32_t, uint16_t>, v1::EvalOutcome> got;
    for (int i = 0; i < done.eval_outcomes_size(); ++i) {
      const v1::EvalOutcome& o = done.eval_outcomes(i);
      auto p = e.eval_index.find(o.problem_id());
      if (p == e.eval_index.end() || static_cast<int32_t>(p->second) < first ||
          static_cast<int32_t>(p->second) >= first + count) {
        return absl::InvalidArgumentError(
            absl::StrCat("eval_outcomes[", i, "]: problem \"", o.problem_id(), "\" is not in this shard"));
      }
      auto t = std::find(temps.begin(), temps.end(), o.temperature());
      if (t == temps.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("eval_outcomes[", i, "]: temperature ", o.temperature(), " is not one the lease asked for"));
      }
      if (o.truncation() < 0 || static_cast<size_t>(o.truncation()) >= ntrunc) {
        return absl::InvalidArgumentError(
            absl::StrCat("eval_outcomes[", i, "]: truncation ", o.truncation(), " is not in [0, ", ntrunc, ")"));
      }
      if (o.n() != n || o.c() < 0 || o.c() > o.n()) {
        return absl::InvalidArgumentError(
            absl::StrCat("eval_outcomes[", i, "]: n must be ", n, " and c in [0, n]; got n=", o.n(), " c=", o.c()));
      }
      const size_t setting =
          static_cast<size_t>(o.truncation()) * temps.size() + static_cast<size_t>(t - temps.begin());
      if (!got.emplace(std::make_pair(p->second, static_cast<uint16_t>(setting)), o).second) {
        return absl::InvalidArgumentError(absl::StrCat("eval_outcomes[", i, "]: problem \"", o.problem_id(),
                                                       "\" at temperature ", o.temperature(), " and truncation ",
                                                       o.truncation(), " twice"));
      }
    }
    const size_t want = static_cast<size_t>(count) * temps.size() * ntrunc;
    if (got.size() != want) {
      return absl::InvalidArgumentError(absl::StrCat("eval_outcomes: ", got.size(), " given, the shard needs ", want,
                                                     " (", count, " problems x ", temps.size(), " temperatures x ",
                                                     ntrunc, " truncations)"));
    }
    WriteBatch b;
    for (const auto& [key, o] : got) {
      b.Put(kEvals, EvalKey(e.id(), static_cast<uint32_t>(s.rec.round()), key.first, key.second),
            o.SerializeAsString());
      e.evals[s.rec.round()][key] = o;
    }
    Write(std::move(b));
  }
  e.leases.Complete(s);
  w.leases.erase({e.id(), s.id()});
  MarkChanged(e);
  Advance(e);
  return absl::OkStatus();
}

absl::Status Coordinator::OnFailed(JobEntry& e, Shard& s, WorkerEntry& w, const v1::ReportWorkRequest& r) {
  const std::string reason = absl::StrCat(w.id(), ": ", r.failed().reason().substr(0, 1000));
  LOG(WARNING) << "job " << e.id() << ": " << LeaseTable::Describe(r.lease()) << " failed: " << reason;
  ReturnShard(e, s, reason, /*graceful=*/false);
  MarkChanged(e);
  return absl::OkStatus();
}

absl::Status Coordinator::OnTrainingProgress(JobEntry& e, Shard& s, WorkerEntry& w, const v1::TrainingProgress& p) {
  if (s.rec.kind() != v1::LEASE_KIND_TRAIN)
    return absl::InvalidArgumentError("training_progress: only for training leases");
  if (p.step() < 0 || p.total_steps() < p.step() || !std::isfinite(p.loss()) || !std::isfinite(p.tokens_per_s()) ||
      p.tokens_per_s() < 0 || p.peak_rss_bytes() < 0) {
    return absl::InvalidArgumentError(
        "training_progress: need 0 <= step <= total_steps, finite loss and rate, peak_rss_bytes >= 0");
  }
  const int rank = RankOf(s, w);
  if (rank >= 0 && rank < s.rec.group_size() && p.peak_rss_bytes() > 0) {
    auto* peaks = e.live.mutable_train_rank_peak_rss_bytes();
    while (peaks->size() < s.rec.group_size()) peaks->Add(0);
    peaks->Set(rank, p.peak_rss_bytes());
    e.progress_dirty = true;
  }
  if (rank != 0 || p.total_steps() == 0) return absl::OkStatus();  // rank 0's metrics speak for the group
  if (p.has_worst_expert_load()) {
    const v1::ExpertLoadSummary& l = p.worst_expert_load();
    if (l.layer() < 0 || !std::isfinite(l.max_over_mean()) || l.max_over_mean() < 0 || l.dead_experts() < 0 ||
        l.num_experts() < 0 || l.dead_experts() > l.num_experts() || !std::isfinite(l.aux_loss())) {
      return absl::InvalidArgumentError(
          "training_progress.worst_expert_load: need layer >= 0, finite max_over_mean >= 0, 0 <= dead_experts <= "
          "num_experts and a finite aux_loss");
    }
    *e.live.mutable_train_expert_load() = l;
  }
  e.live.set_train_step(p.step());
  e.live.set_train_total_steps(p.total_steps());
  e.live.set_train_loss(p.loss());
  e.live.set_train_tokens_per_s(p.tokens_per_s());
  e.progress_dirty = true;
  return absl::OkStatus();
}

absl::Status Coordinator::OnTrainingDone(JobEntry& e, Shard& s, WorkerEntry& w, const v1::TrainingDone& d) {
  if (s.rec.kind() != v1::LEASE_KIND_TRAIN)
    return absl::InvalidArgumentError("training_done: only for training leases");
  const int rank = RankOf(s, w);
  if (rank == 0 && d.model_path().empty()) {
    return absl::InvalidArgumentError("training_done.model_path: rank 0 must say where the model is");
  }
  if (std::count(s.rec.ranks_done().begin(), s.rec.ranks_done().end(), rank) == 0) s.rec.add_ranks_done(rank);
  w.leases.erase({e.id(), s.id()});
  if (rank != 0) {
    e.leases.Save(s);
    MarkChanged(e);
    return absl::OkStatus();
  }
  // Rank 0 has written the model: the round's training is done.
  if (v1::RoundStatus* rs = e.Round(s.rec.round())) {
    rs->set_model_path(d.model_path());
    rs->set_final_loss(d.final_loss());
    rs->set_train_steps(d.steps());
  }
  e.leases.Complete(s);
  for (const std::string& member : s.rec.group()) {
    if (WorkerEntry* m = workers_.Find(member)) m->leases.erase({e.id(), s.id()});
  }
  PersistJob(e);
  AfterTraining(e);
  MarkChanged(e);
  return absl::OkStatus();
}

absl::Status Coordinator::OnPushProgress(JobEntry& e, Shard& s, WorkerEntry& w, const v1::PushProgress& p) {
  if (s.rec.kind() != v1::LEASE_KIND_PUSH) return absl::InvalidArgumentError("push_progress: only for push leases");
  e.live.set_push_bytes_done(p.bytes_done());
  e.live.set_push_bytes_total(p.bytes_total());
  e.live.set_push_samplers_done(p.samplers_done());
  e.live.set_push_samplers_total(p.samplers_total());
  e.progress_dirty = true;
  return absl::OkStatus();
}

absl::Status Coordinator::OnPushDone(JobEntry& e, Shard& s, WorkerEntry& w, const v1::PushDone& d) {
  if (s.rec.kind() != v1::LEASE_KIND_PUSH) return absl::InvalidArgumentError("push_done: only for push leases");
  if (d.reached_size() == 0) {
    ReturnShard(e, s, absl::StrCat(w.id(), ": the push reached no sampler"), /*graceful=*/false);
    MarkChanged(e);
    return absl::OkStatus();
  }
  for (const std::string& id : d.reached()) {
    if (WorkerEntry* sampler = workers_.Find(id)) sampler->held.insert({e.id(), s.rec.round()});
  }
  e.leases.Complete(s);
  w.leases.erase({e.id(), s.id()});
  MarkChanged(e);
  AfterPush(e);
  return absl::OkStatus();
}

}  // namespace ssd
