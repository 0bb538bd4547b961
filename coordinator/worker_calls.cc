// The workers' calls (RegisterWorker, Heartbeat, AcquireWork, Deregister)
// and the lease operations that tie the LeaseTable, the WorkerRegistry and
// the job together. ReportWork is in work_reports.cc.
#include <glog/logging.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/metrics/metrics_registry.h"
#include "common/util/status_macros.h"
#include "coordinator/coordinator.h"
#include "coordinator/job_state.h"
#include "coordinator/store_schema.h"

namespace ssd {

void Coordinator::Grant(JobEntry& e, Shard& s, WorkerEntry& w) {
  e.leases.Grant(s, w.id(), clock_->NowMs(), options_.lease_ttl_ms);
  w.leases.insert({e.id(), s.id()});
  if (leases_granted_ != nullptr) leases_granted_->Increment();
  // A durable change, so watchers see it now like the report that ends the
  // lease. Left to the throttled progress publish, the last snapshot a
  // watcher held was nearly always taken at a report, when the reporting
  // worker had not yet leased its next shard, and showed one lease too few.
  MarkChanged(e);
}

absl::StatusOr<std::pair<JobEntry*, Shard*>> Coordinator::CheckLease(const v1::LeaseRef& lease,
                                                                     const WorkerEntry& worker) {
  if (lease.job_id().empty()) return absl::InvalidArgumentError("lease.job_id: empty");
  if (lease.kind() == v1::LEASE_KIND_UNSPECIFIED) return absl::InvalidArgumentError("lease.kind: unspecified");
  JobEntry* e = FindJob(lease.job_id());
  if (e == nullptr) return absl::NotFoundError(absl::StrCat("lease.job_id: no job \"", lease.job_id(), "\""));
  if (IsTerminal(e->job.state())) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", lease.job_id(), " is ", JobStateName(e->job.state()), "; stop working on it"));
  }
  ASSIGN_OR_RETURN(Shard * s, e->leases.Check(lease, worker.id()));
  return std::make_pair(e, s);
}

void Coordinator::ReturnShard(JobEntry& e, Shard& s, const std::string& reason, bool graceful) {
  if (s.rec.kind() == v1::LEASE_KIND_TRAIN) {
    for (const std::string& member : s.rec.group()) {
      if (WorkerEntry* m = workers_.Find(member)) m->leases.erase({e.id(), s.id()});
    }
    e.live.clear_train_step();
    e.live.clear_train_rank_peak_rss_bytes();  // the next group's processes start afresh
    e.live.clear_train_expert_load();
  } else if (WorkerEntry* m = workers_.Find(s.rec.worker_id())) {
    m->leases.erase({e.id(), s.id()});
  }
  if (!e.leases.Return(s, reason, graceful, e.job.spec().max_shard_attempts())) {
    const std::string what = s.rec.kind() == v1::LEASE_KIND_TRAIN ? "training"
                             : s.rec.kind() == v1::LEASE_KIND_PUSH
                                 ? "the weight push"
                                 : absl::StrCat(LeaseKindName(s.rec.kind()), " shard ", s.rec.shard());
    FailJob(e, absl::StrCat(what, " of round ", s.rec.round(), " failed ", s.rec.attempts(),
                            " times (max_shard_attempts); reasons: ", absl::StrJoin(s.rec.failures(), "; ")));
    return;
  }
  e.progress_dirty = true;
}

void Coordinator::ReleaseWorker(WorkerEntry& w, const std::string& reason, bool graceful) {
  const auto leases = w.leases;
  for (const auto& [job, sid] : leases) {
    JobEntry* e = FindJob(job);
    if (e == nullptr || IsTerminal(e->job.state())) continue;
    Shard* s = e->leases.Find(sid);
    if (s == nullptr || s->rec.state() != internal::SHARD_STATE_LEASED) continue;
    if (!graceful && leases_expired_ != nullptr) leases_expired_->Increment();
    ReturnShard(*e, *s, reason, graceful);
    MarkChanged(*e);
  }
  w.leases.clear();
}

void Coordinator::ExpireLeases() {
  const int64_t now = clock_->NowMs();
  for (auto& [id, e] : jobs_) {
    if (IsTerminal(e.job.state())) continue;
    for (const ShardId& sid : e.leases.Expired(now)) {
      Shard& s = *e.leases.Find(sid);
      LOG(WARNING) << "job " << id << ": " << LeaseTable::Describe(LeaseTable::RefOf(s.rec)) << " held by "
                   << s.rec.worker_id() << " expired; back to the queue";
      if (leases_expired_ != nullptr) leases_expired_->Increment();
      ReturnShard(e, s, absl::StrCat("lease held by ", s.rec.worker_id(), " expired without a renewal"), false);
      MarkChanged(e);
      if (IsTerminal(e.job.state())) break;
    }
  }
}

void Coordinator::RegisterWorker(const v1::RegisterWorkerRequest& request, const v1::WorkerCredentials* resume,
                                 const std::string& peer, Done<v1::RegisterWorkerResponse> done) {
  if (absl::Status s = WorkerRegistry::ValidateRegistration(request); !s.ok()) return done(s);
  Pending pending;
  absl::StatusOr<v1::RegisterWorkerResponse> result;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status h = Health(); !h.ok()) return done(h);
    auto registered =
        workers_.Register(request, resume, peer, [this](v1::WorkerRole role) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          const std::string id =
              absl::StrCat(role == v1::WORKER_ROLE_SAMPLER ? "sampler" : "trainer", "-", next_worker_++);
          PersistCounters();
          return id;
        });
    if (!registered.ok()) return done(registered.status());
    v1::RegisterWorkerResponse r;
    r.mutable_credentials()->set_worker_id(registered->worker->id());
    r.mutable_credentials()->set_session(registered->session);
    r.set_resumed(registered->resumed);
    r.set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
    r.set_lease_ttl_ms(options_.lease_ttl_ms);
    result = std::move(r);
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

void Coordinator::Heartbeat(const v1::WorkerCredentials& who, const v1::HeartbeatRequest& request,
                            Done<v1::HeartbeatResponse> done) {
  if (request.leases_size() > 10000 || request.weights_held_size() > 1000) {
    return done(absl::InvalidArgumentError("leases/weights_held: too many entries"));
  }
  Pending pending;
  absl::StatusOr<v1::HeartbeatResponse> result;
  {
    absl::MutexLock lock(&mu_);
    // Every write goes through Write() under mu_, so this tells whether
    // this heartbeat itself changed durable state.
    const uint64_t before = log_->last_enqueued();
    auto w = workers_.Authenticate(who.worker_id(), who.session());
    if (!w.ok()) return done(w.status());
    WorkerEntry& worker = **w;
    WorkerRegistry::NoteHeld(worker, request.weights_held());
    if (worker.unhealthy != request.unhealthy()) {
      LOG(WARNING) << "worker " << worker.id()
                   << (request.unhealthy().empty() ? " is healthy again" : " takes no work: " + request.unhealthy());
    }
    worker.unhealthy = request.unhealthy().substr(0, 1000);
    v1::HeartbeatResponse r;
    for (const v1::LeaseRef& ref : request.leases()) {
      JobEntry* e = FindJob(ref.job_id());
      const Shard* s =
          e == nullptr || IsTerminal(e->job.state()) ? nullptr : e->leases.Find({ref.round(), ref.kind(), ref.shard()});
      if (s == nullptr || s->rec.epoch() != ref.epoch() || s->rec.state() != internal::SHARD_STATE_LEASED) {
        *r.add_revoked() = ref;
        continue;
      }
      if (!LeaseTable::HeldBy(s->rec, worker.id())) {
        // The current epoch of someone else's lease: this worker was never
        // given it, so this is not a race but a worker acting for another.
        return done(absl::PermissionDeniedError(absl::StrCat(LeaseTable::Describe(ref), " is held by ",
                                                             LeaseTable::Holder(s->rec), ", not by ", worker.id())));
      }
    }
    // Renew what the worker says it is working on. A lease it no longer
    // lists (it gave up on the work, say after a broken stream) is not
    // renewed and lapses at its TTL, so the shard is not stranded.
    const int64_t now = clock_->NowMs();
    for (const v1::LeaseRef& ref : request.leases()) {
      const ShardId sid{ref.round(), ref.kind(), ref.shard()};
      if (worker.leases.count({ref.job_id(), sid}) == 0) continue;
      Shard& s = *jobs_.at(ref.job_id()).leases.Find(sid);
      if (s.rec.epoch() != ref.epoch() || s.rec.state() != internal::SHARD_STATE_LEASED) continue;
      jobs_.at(ref.job_id()).leases.Renew(s, now, options_.lease_ttl_ms);
      *r.add_renewed() = LeaseTable::RefOf(s.rec);
    }
    r.set_lease_ttl_ms(options_.lease_ttl_ms);
    r.set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
    result = std::move(r);
    pending = EndOp();
    // A heartbeat that wrote nothing answers at once: what it renews the
    // worker already holds from durable replies, and a revocation that a
    // crash could undo only makes the worker drop work that would lapse.
    if (log_->last_enqueued() == before) pending.seq = 0;
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

void Coordinator::AcquireWork(const v1::WorkerCredentials& who, const v1::AcquireWorkRequest& request,
                              Done<v1::AcquireWorkResponse> done) {
  if (request.weights_held_size() > 1000) return done(absl::InvalidArgumentError("weights_held: more than 1000"));
  Pending pending;
  v1::AcquireWorkResponse resp;
  std::vector<std::string> eval_keys;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status h = Health(); !h.ok()) return done(h);
    auto w = workers_.Authenticate(who.worker_id(), who.session());
    if (!w.ok()) return done(w.status());
    WorkerRegistry::NoteHeld(**w, request.weights_held());
    (*w)->unhealthy.clear();  // asking for work: it takes work
    resp =
        (*w)->role() == v1::WORKER_ROLE_SAMPLER ? scheduler_.ForSampler(**w, &eval_keys) : scheduler_.ForTrainer(**w);
    pending = EndOp();
  }
  // Benchmark lines (with their tests) can be large: read them outside the
  // lock.
  if (resp.has_shard() && !eval_keys.empty()) {
    for (size_t i = 0; i < eval_keys.size(); ++i) {
      auto v = store_->Get(kProblems, eval_keys[i]);
      v1::Problem p;
      if (!v.ok() || !v->has_value() || !p.ParseFromString(**v)) {
        return done(absl::DataLossError(absl::StrCat("store: eval problem ", i, " of the lease cannot be read")));
      }
      resp.mutable_shard()
          ->mutable_tasks(static_cast<int>(i))
          ->mutable_problem()
          ->set_benchmark_line(p.benchmark_line());
    }
  }
  ReplyAfter<v1::AcquireWorkResponse>(std::move(pending), std::move(resp), std::move(done));
}

void Coordinator::Deregister(const v1::WorkerCredentials& who, Done<v1::DeregisterResponse> done) {
  Pending pending;
  absl::StatusOr<v1::DeregisterResponse> result;
  {
    absl::MutexLock lock(&mu_);
    auto w = workers_.Authenticate(who.worker_id(), who.session());
    if (!w.ok()) return done(w.status());
    v1::DeregisterResponse r;
    r.set_leases_returned(static_cast<int32_t>((*w)->leases.size()));
    ReleaseWorker(**w, absl::StrCat("worker ", (*w)->id(), " left"), /*graceful=*/true);
    workers_.SetState(**w, v1::WORKER_STATE_LEFT);
    LOG(INFO) << "worker " << (*w)->id() << " left; " << r.leases_returned() << " lease(s) returned";
    result = std::move(r);
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

}  // namespace ssd
