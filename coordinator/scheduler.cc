#include "coordinator/scheduler.h"

#include <glog/logging.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/job_spec.h"
#include "coordinator/store_schema.h"

namespace ssd {
namespace {

// "ipv4:10.0.0.5:41234" or "ipv6:[fd00::5]:41234" (a gRPC peer) -> the IP.
std::string PeerHost(const std::string& peer) {
  if (absl::StartsWith(peer, "ipv4:")) {
    const std::string rest = peer.substr(5);
    return rest.substr(0, rest.rfind(':'));
  }
  if (absl::StartsWith(peer, "ipv6:[")) {
    const std::string rest = peer.substr(6);
    return rest.substr(0, rest.find(']'));
  }
  return "";
}

std::string HostOf(const std::string& address) {
  if (!address.empty() && address[0] == '[') return address.substr(1, address.find(']') - 1);
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

int RankIn(const internal::ShardRecord& rec, const std::string& worker_id) {
  return static_cast<int>(std::find(rec.group().begin(), rec.group().end(), worker_id) - rec.group().begin());
}

}  // namespace

Scheduler::Scheduler(const CoordinatorOptions& options, Parts parts) : options_(options), parts_(std::move(parts)) {}

v1::AcquireWorkResponse Scheduler::ForSampler(WorkerEntry& w, std::vector<std::string>* eval_keys) {
  v1::AcquireWorkResponse resp;
  v1::Idle* idle = resp.mutable_idle();
  idle->set_retry_after_ms(options_.idle_retry_ms);
  int held = 0;
  for (const auto& [job, sid] : w.leases) {
    const int kind = std::get<1>(sid);
    held += kind == v1::LEASE_KIND_SAMPLE || kind == v1::LEASE_KIND_EVAL;
  }
  if (held >= options_.max_leases_per_sampler) {
    idle->set_reason(absl::StrCat("this sampler already holds ", held, " leases"));
    return resp;
  }
  std::vector<JobEntry*> running;
  for (const std::string& id : *parts_.job_order) {
    JobEntry& e = parts_.jobs->at(id);
    if (e.job.state() == v1::JOB_STATE_SAMPLING || e.job.state() == v1::JOB_STATE_EVALUATING) running.push_back(&e);
  }
  idle->set_reason(running.empty() ? "no job is sampling or evaluating" : "every shard is leased or done");
  for (size_t k = 0; k < running.size(); ++k) {
    const size_t idx = (sampler_cursor_ + k) % running.size();
    JobEntry& e = *running[idx];
    const bool eval = e.job.state() == v1::JOB_STATE_EVALUATING;
    const v1::LeaseKind kind = eval ? v1::LEASE_KIND_EVAL : v1::LEASE_KIND_SAMPLE;
    const int32_t round = e.job.round();
    const int32_t version = eval ? round : round - 1;
    Shard* next = e.leases.NextQueued(round, kind);
    if (next == nullptr) continue;
    if (version > 0 && w.held.count({e.id(), version}) == 0) {
      idle->set_reason(absl::StrCat("job ", e.id(), " needs weights version ", version, ", which this sampler lacks"));
      idle->mutable_wanted()->set_job_id(e.id());
      idle->mutable_wanted()->set_version(version);
      idle->clear_holders();
      for (v1::PushTarget& t : parts_.workers->Holders(e.id(), version)) *idle->add_holders() = std::move(t);
      continue;
    }
    parts_.grant(e, *next, w);
    sampler_cursor_ = idx + 1;
    v1::ShardLease* lease = resp.mutable_shard();
    *lease->mutable_lease() = LeaseTable::RefOf(next->rec);
    lease->mutable_weights()->set_job_id(e.id());
    lease->mutable_weights()->set_version(version);
    lease->set_base_model(e.job.spec().model());
    lease->set_seed(e.SeedFor(kind, round));
    lease->set_ttl_ms(options_.lease_ttl_ms);
    lease->set_enable_thinking(e.job.spec().enable_thinking());
    if (!eval) lease->set_sft_max_seq_len(e.job.spec().train().max_seq_len());
    const int32_t first = next->rec.first_problem();
    if (eval) {
      const v1::EvalSpec& ev = e.job.spec().eval();
      v1::EvalTask* t = lease->mutable_eval();
      for (double temp : e.EvalTemperatures(round)) t->add_temperatures(temp);
      t->set_n(ev.n());
      t->set_top_k(ev.top_k());
      t->set_top_p(ev.top_p());
      t->set_min_p(ev.min_p());
      for (const v1::Truncation& tr : EvalTruncations(ev)) *t->add_truncations() = tr;
      t->set_max_tokens(ev.max_tokens());
      t->set_timeout_s(ev.timeout_s());
      for (int32_t p = first; p < first + next->rec.num_problems(); ++p) {
        *lease->add_tasks()->mutable_problem() = e.eval_problems[static_cast<size_t>(p)];
        eval_keys->push_back(ProblemKey(e.id(), kEvalProblems, static_cast<uint32_t>(p)));
      }
    } else {
      *lease->mutable_sampling() = e.job.spec().sampling();
      const SampleRound& r = parts_.samples->Round(e, round);
      for (int32_t p = first; p < first + next->rec.num_problems(); ++p) {
        v1::ProblemTask* task = nullptr;
        for (int64_t s = 0; s < r.n; ++s) {
          if (r.Has(static_cast<int64_t>(p) * r.n + s)) continue;
          if (task == nullptr) {
            task = lease->add_tasks();
            *task->mutable_problem() = e.problems[static_cast<size_t>(p)];
          }
          task->add_sample_indices(s);
        }
      }
    }
    return resp;
  }
  return resp;
}

v1::TrainingAssignment Scheduler::TrainingFor(const JobEntry& e, const Shard& s, int rank) const {
  v1::TrainingAssignment a;
  *a.mutable_lease() = LeaseTable::RefOf(s.rec);
  const int32_t round = s.rec.round();
  a.set_rank(rank);
  a.set_world_size(s.rec.group_size());
  a.set_master_addr(s.rec.master_addr());
  a.set_master_port(s.rec.master_port());
  a.mutable_start()->set_job_id(e.id());
  a.mutable_start()->set_version(round - 1);
  a.set_start_model(e.job.spec().model());
  for (const v1::RoundStatus& rs : e.job.rounds()) {
    if (rs.round() == round - 1 && !rs.model_path().empty()) a.set_start_model(rs.model_path());
  }
  *a.mutable_train() = e.job.spec().train();
  if (!e.job.spec().output_dir().empty()) {
    a.set_output_dir(absl::StrCat(e.job.spec().output_dir(), "/round-", round));
  }
  a.mutable_output()->set_job_id(e.id());
  a.mutable_output()->set_version(round);
  for (const v1::RoundStatus& rs : e.job.rounds()) {
    if (rs.round() == round) a.set_survivors(rs.filter().survivors());
  }
  a.set_enable_thinking(e.job.spec().enable_thinking());
  return a;
}

v1::PushAssignment Scheduler::PushFor(const JobEntry& e, const Shard& s) const {
  v1::PushAssignment p;
  *p.mutable_lease() = LeaseTable::RefOf(s.rec);
  p.mutable_weights()->set_job_id(e.id());
  p.mutable_weights()->set_version(s.rec.round());
  *p.mutable_chain() = s.rec.chain();
  for (const v1::RoundStatus& rs : e.job.rounds()) {
    if (rs.round() == s.rec.round()) p.set_model_dir(rs.model_path());
  }
  p.set_base_model(e.job.spec().model());
  return p;
}

bool Scheduler::FormTrainingGroup(JobEntry& e, Shard& s, WorkerEntry& asking, v1::Idle* idle) {
  const int world = e.job.spec().train().trainers();
  std::vector<WorkerEntry*> idle_trainers = parts_.workers->IdleTrainers(asking);
  if (static_cast<int>(idle_trainers.size()) < world) {
    idle->set_reason(
        absl::StrCat("job ", e.id(), " trains on ", world, " trainers; ", idle_trainers.size(), " are idle"));
    return false;
  }
  // Ranks follow the workers' rank hints (unhinted last, the asking worker
  // first among equals), so without hints the asker is rank 0.
  auto hint = [](const WorkerEntry* t) {
    const v1::WorkerCapabilities& c = t->rec.status().capabilities();
    return c.has_rank_hint() ? int64_t{c.rank_hint()} : std::numeric_limits<int64_t>::max();
  };
  std::stable_sort(idle_trainers.begin(), idle_trainers.end(),
                   [&](const WorkerEntry* a, const WorkerEntry* b) { return hint(a) < hint(b); });
  idle_trainers.resize(static_cast<size_t>(world));
  WorkerEntry& rank0_worker = *idle_trainers[0];
  s.rec.clear_group();
  s.rec.clear_ranks_done();
  for (int r = 0; r < world; ++r) s.rec.add_group(idle_trainers[static_cast<size_t>(r)]->id());
  const v1::WorkerStatus& rank0 = rank0_worker.rec.status();
  // Rank 0 hosts the store: its advertised address, else the address its
  // connection came from, else its host name.
  std::string master = !rank0.address().empty() ? HostOf(rank0.address()) : PeerHost(rank0.peer());
  if (master.empty()) master = rank0.hostname();
  s.rec.set_master_addr(master);
  s.rec.set_master_port(rank0.capabilities().rendezvous_port() > 0 ? rank0.capabilities().rendezvous_port() : 29500);
  parts_.grant(e, s, rank0_worker);
  for (int r = 1; r < world; ++r) idle_trainers[static_cast<size_t>(r)]->leases.insert({e.id(), s.id()});
  LOG(INFO) << "job " << e.id() << " round " << s.rec.round() << ": training group "
            << absl::StrJoin(s.rec.group(), ",") << " (epoch " << s.rec.epoch() << ", rendezvous "
            << s.rec.master_addr() << ":" << s.rec.master_port() << ")";
  return true;
}

v1::AcquireWorkResponse Scheduler::ForTrainer(WorkerEntry& w) {
  v1::AcquireWorkResponse resp;
  const std::string& me = w.id();
  // Work already assigned is handed out again (the reply may have been lost).
  for (const auto& [job, sid] : w.leases) {
    JobEntry& e = parts_.jobs->at(job);
    Shard* s = e.leases.Find(sid);
    if (s == nullptr || s->rec.state() != internal::SHARD_STATE_LEASED) continue;
    if (s->rec.kind() == v1::LEASE_KIND_TRAIN) {
      *resp.mutable_training() = TrainingFor(e, *s, RankIn(s->rec, me));
      return resp;
    }
    if (s->rec.kind() == v1::LEASE_KIND_PUSH) {
      *resp.mutable_push() = PushFor(e, *s);
      return resp;
    }
  }
  v1::Idle* idle = resp.mutable_idle();
  idle->set_retry_after_ms(options_.idle_retry_ms);
  idle->set_reason("no job is training or pushing");
  // Training groups, first come first served by time in TRAINING.
  std::vector<JobEntry*> training;
  for (const std::string& id : *parts_.job_order) {
    JobEntry& e = parts_.jobs->at(id);
    if (e.job.state() == v1::JOB_STATE_TRAINING) training.push_back(&e);
  }
  std::stable_sort(training.begin(), training.end(), [](const JobEntry* a, const JobEntry* b) {
    return a->job.state_since_unix_ms() < b->job.state_since_unix_ms();
  });
  for (JobEntry* e : training) {
    Shard* s = e->leases.Find({e->job.round(), v1::LEASE_KIND_TRAIN, 0});
    if (s == nullptr || s->rec.state() != internal::SHARD_STATE_QUEUED) continue;
    // FIFO: a later job does not take trainers the first one is waiting for
    // (pushes, below, still go ahead).
    if (!FormTrainingGroup(*e, *s, w, idle)) break;
    const int my_rank = RankIn(s->rec, me);
    if (my_rank >= e->job.spec().train().trainers()) {
      // Others' hints came first: they got their leases and start on their
      // next AcquireWork; this worker waits for the next group.
      idle->set_reason(absl::StrCat("job ", e->id(), " formed its training group of ", e->job.spec().train().trainers(),
                                    " from lower rank hints"));
      return resp;
    }
    resp.clear_idle();
    *resp.mutable_training() = TrainingFor(*e, *s, my_rank);
    return resp;
  }
  // Pushes: a member of the round's training group (rank 0 first) pushes;
  // any trainer may when none of them is alive.
  for (const std::string& id : *parts_.job_order) {
    JobEntry& e = parts_.jobs->at(id);
    if (e.job.state() != v1::JOB_STATE_PUSHING) continue;
    Shard* push = e.leases.Find({e.job.round(), v1::LEASE_KIND_PUSH, 0});
    if (push == nullptr || push->rec.state() != internal::SHARD_STATE_QUEUED) continue;
    const Shard& train = *e.leases.Find({e.job.round(), v1::LEASE_KIND_TRAIN, 0});
    std::string pusher;
    for (const std::string& member : train.rec.group()) {
      const WorkerEntry* m = parts_.workers->Find(member);
      if (m != nullptr && m->alive()) {
        pusher = member;
        break;
      }
    }
    if (!pusher.empty() && pusher != me) continue;
    std::vector<v1::PushTarget> chain = parts_.workers->LiveSamplers();
    if (chain.empty()) {
      idle->set_reason(absl::StrCat("job ", e.id(), " waits for a live sampler to push its weights to"));
      continue;
    }
    push->rec.clear_chain();
    for (v1::PushTarget& t : chain) *push->rec.add_chain() = std::move(t);
    parts_.grant(e, *push, w);
    *resp.mutable_push() = PushFor(e, *push);
    return resp;
  }
  return resp;
}

}  // namespace ssd
