// The job state machine's actions (job_state.h draws the machine).
#include <glog/logging.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/filter/sample_filter.h"
#include "coordinator/coordinator.h"
#include "coordinator/eval_report.h"
#include "coordinator/job_spec.h"
#include "coordinator/job_state.h"
#include "coordinator/store_schema.h"

namespace ssd {

void Coordinator::SetState(JobEntry& e, v1::JobState s, int32_t round) {
  if (!IsAllowedTransition(e.job.state(), s)) {
    LOG(DFATAL) << "job " << e.job.id() << ": no transition " << JobStateName(e.job.state()) << " -> "
                << JobStateName(s);
    return;
  }
  VLOG(1) << "job " << e.job.id() << ": " << JobStateName(e.job.state()) << " -> " << JobStateName(s) << " (round "
          << round << ")";
  e.job.set_state(s);
  e.job.set_round(round);
  e.job.set_state_since_unix_ms(clock_->NowMs());
  e.live = v1::StageProgress();
  e.rate.clear();
  MarkChanged(e);
  PersistJob(e);
  // Watchers see every state, even one the same operation moves past.
  transitions_.push_back(Snapshot(e));
}

void Coordinator::FailJob(JobEntry& e, const std::string& reason) {
  if (IsTerminal(e.job.state())) return;
  LOG(WARNING) << "job " << e.job.id() << " FAILED: " << reason;
  e.job.set_error(reason);
  SetState(e, v1::JOB_STATE_FAILED, e.job.round());
  ReleaseAllLeases(e);
}

void Coordinator::ReleaseAllLeases(JobEntry& e) { workers_.DropJobLeases(e.id()); }

// Shards first, then the state: the transition's snapshot shows the stage
// with its shards.
void Coordinator::StartSampling(JobEntry& e, int32_t round) {
  samples_.Round(e, round);
  e.leases.AddRange(e.id(), round, v1::LEASE_KIND_SAMPLE, static_cast<int64_t>(e.problems.size()),
                    e.job.spec().shard_size());
  v1::RoundStatus* rs = e.job.add_rounds();
  rs->set_round(round);
  SetState(e, v1::JOB_STATE_SAMPLING, round);
}

void Coordinator::StartEvaluating(JobEntry& e, int32_t round) {
  e.leases.AddRange(e.id(), round, v1::LEASE_KIND_EVAL, static_cast<int64_t>(e.eval_problems.size()),
                    e.job.spec().eval().shard_size());
  SetState(e, v1::JOB_STATE_EVALUATING, round);
}

void Coordinator::RunFilter(JobEntry& e) {
  const int32_t round = e.job.round();
  const v1::FilterResult result = ComputeFilter(e.job.spec().filter(), samples_.FilterCandidates(e, round));
  const int64_t count = samples_.Round(e, round).count;
  v1::RoundStatus* rs = nullptr;
  for (v1::RoundStatus& x : *e.job.mutable_rounds()) {
    if (x.round() == round) rs = &x;
  }
  if (rs == nullptr) {
    rs = e.job.add_rounds();
    rs->set_round(round);
  }
  rs->set_samples(count);
  *rs->mutable_filter() = result;
  LOG(INFO) << "job " << e.job.id() << " round " << round << ": filter kept " << result.survivors() << " of "
            << result.total() << " samples (empty " << result.dropped_empty() << ", single-line "
            << result.dropped_single_line() << ", shortest " << result.dropped_short() << ")";
  PersistJob(e);
}

void Coordinator::StartTraining(JobEntry& e) {
  SetState(e, v1::JOB_STATE_TRAINING, e.job.round());
  internal::ShardRecord rec;
  rec.set_job_id(e.id());
  rec.set_round(e.job.round());
  rec.set_kind(v1::LEASE_KIND_TRAIN);
  rec.set_state(internal::SHARD_STATE_QUEUED);
  e.leases.Add(std::move(rec));
}

void Coordinator::AfterTraining(JobEntry& e) {
  const int32_t round = e.job.round();
  const bool used_later = e.job.spec().has_eval() || round < e.job.spec().rounds();
  if (!used_later) {
    SetState(e, v1::JOB_STATE_SUCCEEDED, round);
    ReleaseAllLeases(e);
    return;
  }
  SetState(e, v1::JOB_STATE_PUSHING, round);
  internal::ShardRecord rec;
  rec.set_job_id(e.id());
  rec.set_round(round);
  rec.set_kind(v1::LEASE_KIND_PUSH);
  rec.set_state(internal::SHARD_STATE_QUEUED);
  e.leases.Add(std::move(rec));
}

void Coordinator::AfterPush(JobEntry& e) {
  if (e.job.spec().has_eval()) {
    StartEvaluating(e, e.job.round());
  } else {
    NextRoundOrSucceed(e);
  }
}

void Coordinator::AfterEval(JobEntry& e) {
  const int32_t round = e.job.round();
  std::vector<EvalProblemInfo> problems;
  for (const v1::Problem& p : e.eval_problems) problems.push_back({p.id(), DifficultyName(p.difficulty())});
  std::vector<v1::EvalOutcome> outcomes;
  for (const auto& [k, o] : e.evals[round]) outcomes.push_back(o);
  *e.job.add_evals() = BuildEvalReport(round, e.job.spec().eval(), e.EvalTemperatures(round),
                                       EvalTruncations(e.job.spec().eval()), problems, outcomes);
  PersistJob(e);
  if (round == 0) {
    StartSampling(e, 1);
  } else {
    NextRoundOrSucceed(e);
  }
}

void Coordinator::NextRoundOrSucceed(JobEntry& e) {
  const int32_t round = e.job.round();
  if (round < e.job.spec().rounds()) {
    StartSampling(e, round + 1);
  } else {
    SetState(e, v1::JOB_STATE_SUCCEEDED, round);
    ReleaseAllLeases(e);
  }
}

void Coordinator::Advance(JobEntry& e) {
  for (int guard = 0; guard < 16; ++guard) {
    const v1::JobState before = e.job.state();
    const int32_t round_before = e.job.round();
    switch (before) {
      case v1::JOB_STATE_PENDING:
        if (e.job.imported()) {
          SetState(e, v1::JOB_STATE_FILTERING, 1);
        } else if (e.job.spec().has_eval() && e.job.spec().eval().base()) {
          StartEvaluating(e, 0);
        } else {
          StartSampling(e, 1);
        }
        break;
      case v1::JOB_STATE_SAMPLING: {
        if (e.leases.AllDone(e.job.round(), v1::LEASE_KIND_SAMPLE) && samples_.Round(e, e.job.round()).complete()) {
          SetState(e, v1::JOB_STATE_FILTERING, e.job.round());
        }
        break;
      }
      case v1::JOB_STATE_FILTERING: {
        RunFilter(e);
        const v1::RoundStatus& rs = e.job.rounds(e.job.rounds_size() - 1);
        if (rs.filter().survivors() == 0) {
          FailJob(e, absl::StrCat("round ", e.job.round(), ": the filter kept none of the ", rs.filter().total(),
                                  " samples; loosen filter.drop_* or check the model's output"));
        } else {
          StartTraining(e);
        }
        break;
      }
      case v1::JOB_STATE_EVALUATING:
        if (e.leases.AllDone(e.job.round(), v1::LEASE_KIND_EVAL)) AfterEval(e);
        break;
      default: break;  // TRAINING and PUSHING move on reports
    }
    if (e.job.state() == before && e.job.round() == round_before) return;
  }
}

}  // namespace ssd
