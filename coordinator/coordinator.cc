#include "coordinator/coordinator.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/metrics/metrics_registry.h"
#include "common/util/status_macros.h"
#include "coordinator/job_spec.h"
#include "coordinator/job_state.h"
#include "coordinator/store_schema.h"

namespace ssd {

Coordinator::Coordinator(const CoordinatorOptions& options, KvStore* store, const Clock* clock,
                         MetricsRegistry* metrics)
    : options_(options),
      store_(store),
      clock_(clock),
      metrics_(metrics),
      workers_(clock, [this](const WorkerEntry& w) ABSL_NO_THREAD_SAFETY_ANALYSIS { PersistWorker(w); }),
      samples_(options, store, metrics),
      scheduler_(options, Scheduler::Parts{&jobs_, &job_order_, &workers_, &samples_,
                                           [this](JobEntry& e, Shard& s, WorkerEntry& w)
                                               ABSL_NO_THREAD_SAFETY_ANALYSIS { Grant(e, s, w); }}) {
  log_ = std::make_unique<CommitLog>(store, CommitLogOptions(), metrics);
  if (metrics == nullptr) return;
  leases_granted_ = &metrics->AddCounter("ssd_leases_granted_total", "Shard leases handed to workers.").WithLabels({});
  leases_expired_ =
      &metrics->AddCounter("ssd_leases_expired_total", "Leases that lapsed without a renewal or whose worker died.")
           .WithLabels({});
  appends_refused_ =
      &metrics->AddCounter("ssd_append_refused_total", "Append streams ended by a bad or unauthorised sample.")
           .WithLabels({});
  GaugeFamily* jobs = &metrics->AddGauge("ssd_jobs", "Jobs by state.", {"state"});
  GaugeFamily* queue = &metrics->AddGauge("ssd_shard_queue_depth", "Shards waiting for a worker, by kind.", {"kind"});
  GaugeFamily* leased = &metrics->AddGauge("ssd_shards_leased", "Shards held by a worker now, by kind.", {"kind"});
  GaugeFamily* workers = &metrics->AddGauge("ssd_workers", "Workers by role and state.", {"role", "state"});
  GaugeFamily* bytes = &metrics->AddGauge("ssd_store_bytes", "Approximate bytes of the replay store on disk.");
  metrics->AddCollector([this, jobs, queue, leased, workers, bytes] {
    std::map<std::string, int> by_state;
    std::map<std::string, int> queued, held;
    std::map<std::pair<std::string, std::string>, int> by_worker;
    for (int s = v1::JOB_STATE_PENDING; s <= v1::JOB_STATE_CANCELLED; ++s) {
      by_state[JobStateName(static_cast<v1::JobState>(s))] = 0;
    }
    for (const char* role : {"SAMPLER", "TRAINER"}) {
      for (int st = v1::WORKER_STATE_ALIVE; st <= v1::WORKER_STATE_LEFT; ++st) {
        by_worker[{role, WorkerStateName(static_cast<v1::WorkerState>(st))}] = 0;
      }
    }
    for (int k = v1::LEASE_KIND_SAMPLE; k <= v1::LEASE_KIND_PUSH; ++k) {
      queued[LeaseKindName(static_cast<v1::LeaseKind>(k))] = 0;
      held[LeaseKindName(static_cast<v1::LeaseKind>(k))] = 0;
    }
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, e] : jobs_) {
        ++by_state[JobStateName(e.job.state())];
        if (IsTerminal(e.job.state())) continue;
        for (const auto& [key, n] : e.leases.counts()) {
          const std::string k = LeaseKindName(static_cast<v1::LeaseKind>(std::get<1>(key)));
          if (std::get<2>(key) == internal::SHARD_STATE_QUEUED) queued[k] += n;
          if (std::get<2>(key) == internal::SHARD_STATE_LEASED) held[k] += n;
        }
      }
      for (const auto& [id, w] : workers_.workers()) ++by_worker[{WorkerRoleName(w.role()), WorkerStateName(w.state)}];
    }
    for (const auto& [s, n] : by_state) jobs->WithLabels({s}).Set(n);
    for (const auto& [k, n] : queued) queue->WithLabels({k}).Set(n);
    for (const auto& [k, n] : held) leased->WithLabels({k}).Set(n);
    for (const auto& [rs, n] : by_worker) workers->WithLabels({rs.first, rs.second}).Set(n);
    bytes->WithLabels({}).Set(static_cast<double>(store_->ApproximateBytes(kSamples)));
  });
}

Coordinator::~Coordinator() { Shutdown(); }

absl::Status Coordinator::Start() {
  RETURN_IF_ERROR(options_.Validate());
  {
    absl::MutexLock lock(&mu_);
    if (started_) return absl::OkStatus();
    started_ = true;
  }
  RETURN_IF_ERROR(CheckSchema());
  RETURN_IF_ERROR(Recover());
  log_->Start();
  tick_thread_ = std::thread([this] { TickLoop(); });
  return absl::OkStatus();
}

void Coordinator::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (tick_thread_.joinable()) tick_thread_.join();
  log_->Shutdown();
}

absl::Status Coordinator::Health() const {
  absl::Status s = log_->health();
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the store refused a write (", s.message(), "); restart the coordinator once it is fixed"));
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------- helpers

void Coordinator::Write(WriteBatch batch) { log_->Enqueue(std::move(batch)); }

void Coordinator::PersistJob(const JobEntry& e) {
  v1::Job durable = e.job;
  durable.clear_progress();
  WriteBatch b;
  b.Put(kJobs, e.id(), durable.SerializeAsString());
  Write(std::move(b));
}

void Coordinator::PersistShard(const internal::ShardRecord& rec) {
  WriteBatch b;
  b.Put(kShards, ShardKey(rec.job_id(), rec.round(), rec.kind(), rec.shard()), rec.SerializeAsString());
  Write(std::move(b));
}

void Coordinator::PersistWorker(const WorkerEntry& w) {
  internal::WorkerRecord rec = w.rec;
  rec.mutable_status()->set_state(w.state);
  WriteBatch b;
  b.Put(kWorkers, rec.status().worker_id(), rec.SerializeAsString());
  Write(std::move(b));
}

void Coordinator::PersistCounters() {
  internal::Counters c;
  c.set_next_job(next_job_);
  c.set_next_worker(next_worker_);
  WriteBatch meta;
  meta.Put(kMeta, "counters", c.SerializeAsString());
  Write(std::move(meta));
}

JobEntry& Coordinator::NewJobEntry(const std::string& id) {
  auto [it, inserted] = jobs_.try_emplace(
      id, [this](const internal::ShardRecord& rec) ABSL_NO_THREAD_SAFETY_ANALYSIS { PersistShard(rec); });
  return it->second;
}

void Coordinator::MarkChanged(JobEntry& e) {
  e.job.set_version(e.job.version() + 1);
  e.job.set_updated_unix_ms(clock_->NowMs());
  dirty_.insert(e.id());
}

JobEntry* Coordinator::FindJob(const std::string& id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

void Coordinator::FillProgress(const JobEntry& e, v1::StageProgress* p) const {
  *p = e.live;
  const v1::JobState st = e.job.state();
  const v1::LeaseKind kind = st == v1::JOB_STATE_EVALUATING ? v1::LEASE_KIND_EVAL : v1::LEASE_KIND_SAMPLE;
  if (st == v1::JOB_STATE_SAMPLING || st == v1::JOB_STATE_EVALUATING) {
    const int32_t r = e.job.round();
    int64_t total = 0;
    for (int state = internal::SHARD_STATE_QUEUED; state <= internal::SHARD_STATE_FAILED; ++state) {
      total += e.leases.Count(r, kind, static_cast<internal::ShardState>(state));
    }
    p->set_shards_total(total);
    p->set_shards_done(e.leases.Count(r, kind, internal::SHARD_STATE_DONE));
    p->set_shards_leased(e.leases.Count(r, kind, internal::SHARD_STATE_LEASED));
  }
  if (st == v1::JOB_STATE_SAMPLING) {
    const SampleRound* r = samples_.FindRound(e.id(), e.job.round());
    p->set_samples_total(static_cast<int64_t>(e.problems.size()) * e.job.spec().sampling().n());
    p->set_samples_done(r == nullptr ? 0 : r->count);
  } else if (st == v1::JOB_STATE_EVALUATING) {
    const int64_t settings =
        static_cast<int64_t>(e.EvalTemperatures(e.job.round()).size() * EvalTruncations(e.job.spec().eval()).size());
    p->set_samples_total(static_cast<int64_t>(e.eval_problems.size()) * settings * e.job.spec().eval().n());
    int64_t done = 0;
    auto it = e.evals.find(e.job.round());
    if (it != e.evals.end()) {
      for (const auto& [k, o] : it->second) done += o.n();
    }
    p->set_samples_done(done);
  } else if (st == v1::JOB_STATE_TRAINING) {
    p->set_trainers_registered(workers_.CountAlive(v1::WORKER_ROLE_TRAINER));
  }
  // Rates over the recent window of rate points.
  if (e.rate.size() >= 2) {
    const RatePoint& a = e.rate.front();
    const RatePoint& b = e.rate.back();
    const double dt = (b.t_ms - a.t_ms) / 1000.0;
    if (dt > 0) {
      p->set_samples_per_s((b.samples - a.samples) / dt);
      p->set_tokens_per_s((b.tokens - a.tokens) / dt);
    }
  }
}

v1::Job Coordinator::Snapshot(const JobEntry& e) const {
  v1::Job j = e.job;
  FillProgress(e, j.mutable_progress());
  return j;
}

Coordinator::Pending Coordinator::EndOp() {
  Pending p;
  p.seq = log_->last_enqueued();
  for (v1::Job& t : transitions_) {
    for (const auto& [wid, w] : watchers_) {
      if (w->job_id == t.id()) p.publish.emplace_back(w, t);
    }
  }
  transitions_.clear();
  for (const std::string& id : dirty_) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    bool any = false;
    v1::Job snap;
    for (const auto& [wid, w] : watchers_) {
      if (w->job_id != id) continue;
      if (!any) {
        snap = Snapshot(it->second);
        any = true;
      }
      p.publish.emplace_back(w, snap);
    }
    it->second.last_publish_ms = clock_->NowMs();
    it->second.progress_dirty = false;
  }
  dirty_.clear();
  return p;
}

void Coordinator::AfterDurable(Pending pending, std::function<void(const absl::Status&)> then) {
  auto publish = std::make_shared<decltype(pending.publish)>(std::move(pending.publish));
  log_->WhenDurable(pending.seq, [publish, then = std::move(then)](const absl::Status& s) {
    if (s.ok()) {
      for (auto& [w, job] : *publish) w->update(job);
    }
    if (then) then(s);
  });
}

// ------------------------------------------------------------- recovery

absl::Status Coordinator::CheckSchema() {
  ASSIGN_OR_RETURN(auto stamp, store_->Get(kMeta, "schema"));
  if (stamp.has_value()) {
    internal::SchemaVersion v;
    if (!v.ParseFromString(*stamp)) return absl::DataLossError("store: meta/schema does not parse");
    if (v.version() == kSchemaVersion) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "this data dir holds coordinator schema version ", v.version(), "; this ssd reads version ", kSchemaVersion,
        ". Open it with the ssd that wrote it (ssd export can take its rounds out as JSONL), or use a new "
        "--data-dir"));
  }
  // No stamp: a new store, or one written before versions were recorded.
  bool any = false;
  for (int table : {kMeta, kJobs, kWorkers}) {
    RETURN_IF_ERROR(store_->Scan(table, "", "", [&](absl::string_view, absl::string_view) {
      any = true;
      return false;
    }));
  }
  if (any) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this data dir was written by an ssd from before schema versions were recorded (coordinator schema "
        "version 1); this ssd reads version ",
        kSchemaVersion,
        ". Open it with the ssd that wrote it (ssd export can take its rounds out as JSONL), or use a new "
        "--data-dir"));
  }
  internal::SchemaVersion v;
  v.set_version(kSchemaVersion);
  v.set_created_unix_ms(clock_->NowMs());
  WriteBatch b;
  b.Put(kMeta, "schema", v.SerializeAsString());
  return store_->Apply(b, /*sync=*/true);
}

absl::Status Coordinator::Recover() {
  absl::MutexLock lock(&mu_);
  const int64_t now = clock_->NowMs();
  ASSIGN_OR_RETURN(auto counters, store_->Get(kMeta, "counters"));
  if (counters.has_value()) {
    internal::Counters c;
    if (!c.ParseFromString(*counters)) return absl::DataLossError("store: meta/counters does not parse");
    next_job_ = std::max<uint64_t>(1, c.next_job());
    next_worker_ = std::max<uint64_t>(1, c.next_worker());
  }
  absl::Status bad;
  RETURN_IF_ERROR(store_->Scan(kJobs, "", "", [&](absl::string_view key, absl::string_view value) {
    JobEntry& e = NewJobEntry(std::string(key));
    if (!e.job.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      bad = absl::DataLossError(absl::StrCat("store: job record ", key, " does not parse"));
      return false;
    }
    return true;
  }));
  RETURN_IF_ERROR(bad);
  std::vector<std::pair<int64_t, std::string>> order;
  for (auto& entry : jobs_) {
    // Not a structured binding: lambdas below use `e`, and C++17 cannot
    // capture a binding.
    const std::string jid = entry.first;
    JobEntry& e = entry.second;
    order.emplace_back(e.job.created_unix_ms(), jid);
    for (ProblemSet set : {kTrainProblems, kEvalProblems}) {
      RETURN_IF_ERROR(store_->Scan(kProblems, ProblemPrefix(jid, set), "", [&](absl::string_view, absl::string_view v) {
        v1::Problem p;
        if (!p.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
          bad = absl::DataLossError(absl::StrCat("store: a problem of job ", jid, " does not parse"));
          return false;
        }
        if (set == kTrainProblems) {
          e.problem_index[p.id()] = static_cast<uint32_t>(e.problems.size());
          e.problems.push_back(std::move(p));
        } else {
          p.clear_benchmark_line();
          e.eval_index[p.id()] = static_cast<uint32_t>(e.eval_problems.size());
          e.eval_problems.push_back(std::move(p));
        }
        return true;
      }));
      RETURN_IF_ERROR(bad);
    }
    RETURN_IF_ERROR(store_->Scan(kShards, JobPrefix(jid), "", [&](absl::string_view, absl::string_view v) {
      internal::ShardRecord rec;
      if (!rec.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
        bad = absl::DataLossError(absl::StrCat("store: a shard of job ", jid, " does not parse"));
        return false;
      }
      e.leases.Restore(std::move(rec), now + options_.recovery_grace_ms);
      return true;
    }));
    RETURN_IF_ERROR(bad);
    RETURN_IF_ERROR(samples_.Recover(e));
    RETURN_IF_ERROR(store_->Scan(kEvals, JobPrefix(jid), "", [&](absl::string_view k, absl::string_view v) {
      EvalKeyParts parts;
      v1::EvalOutcome o;
      if (!ParseEvalKey(k, &parts) || !o.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
        bad = absl::DataLossError(absl::StrCat("store: an eval outcome of job ", jid, " does not parse"));
        return false;
      }
      e.evals[static_cast<int32_t>(parts.round)][{parts.problem, parts.setting}] = o;
      return true;
    }));
    RETURN_IF_ERROR(bad);
  }
  std::sort(order.begin(), order.end());
  for (const auto& [t, id] : order) job_order_.push_back(id);
  RETURN_IF_ERROR(store_->Scan(kRequests, "", "", [&](absl::string_view key, absl::string_view v) {
    internal::SubmitRecord rec;
    if (!rec.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      bad = absl::DataLossError(absl::StrCat("store: the record of request id ", key, " does not parse"));
      return false;
    }
    requests_[std::string(key)] = std::move(rec);
    return true;
  }));
  RETURN_IF_ERROR(bad);

  RETURN_IF_ERROR(store_->Scan(kWorkers, "", "", [&](absl::string_view key, absl::string_view v) {
    internal::WorkerRecord rec;
    if (!rec.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      bad = absl::DataLossError(absl::StrCat("store: worker record ", key, " does not parse"));
      return false;
    }
    // A worker that was alive has the grace period, not just its timeout, to
    // be heard.
    workers_.Restore(std::move(rec), now + options_.recovery_grace_ms - options_.worker_timeout_ms);
    return true;
  }));
  RETURN_IF_ERROR(bad);
  // Leases back onto their workers.
  for (auto& [id, e] : jobs_) {
    if (IsTerminal(e.job.state())) continue;
    for (const auto& [sid, s] : e.leases.shards()) {
      if (s.rec.state() != internal::SHARD_STATE_LEASED) continue;
      if (s.rec.kind() == v1::LEASE_KIND_TRAIN) {
        for (const std::string& member : s.rec.group()) {
          if (WorkerEntry* w = workers_.Find(member)) w->leases.insert({id, sid});
        }
      } else if (WorkerEntry* w = workers_.Find(s.rec.worker_id())) {
        w->leases.insert({id, sid});
      }
    }
  }
  int64_t samples = 0;
  for (const auto& [id, e] : jobs_) {
    if (const auto* rounds = samples_.Rounds(id)) {
      for (const auto& [r, round] : *rounds) samples += round.count;
    }
  }
  LOG(INFO) << "coordinator: recovered " << jobs_.size() << " jobs, " << workers_.workers().size() << " workers and "
            << samples << " samples";
  return absl::OkStatus();
}

// ------------------------------------------------------------- tick

void Coordinator::TickLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(options_.tick_ms))) return;
    }
    Tick();
  }
}

void Coordinator::TickForTest() { Tick(); }

void Coordinator::Tick() {
  Pending pending;
  {
    absl::MutexLock lock(&mu_);
    if (!log_->health().ok()) return;
    const int64_t now = clock_->NowMs();
    for (WorkerEntry* w : workers_.Silent(now, options_.worker_timeout_ms)) {
      const double silent_s = (now - w->last_seen_ms) / 1000.0;
      LOG(WARNING) << "worker " << w->id() << " missed its heartbeats for " << silent_s << " s; returning its leases";
      ReleaseWorker(*w, absl::StrFormat("worker %s stopped heartbeating (silent for %.1f s)", w->id(), silent_s),
                    /*graceful=*/false);
      workers_.SetState(*w, v1::WORKER_STATE_DEAD);
    }
    ExpireLeases();
    const int32_t trainers = workers_.CountAlive(v1::WORKER_ROLE_TRAINER);
    for (auto& [id, e] : jobs_) {
      if (IsTerminal(e.job.state())) continue;
      Advance(e);
      // A trainer that registers or dies changes what a waiting job shows.
      if (e.job.state() == v1::JOB_STATE_TRAINING && e.trainers_seen != trainers) {
        e.trainers_seen = trainers;
        e.progress_dirty = true;
      }
      // One rate point a second, ten seconds of them.
      if (e.rate.empty() || now - e.rate.back().t_ms >= 1000) {
        int64_t samples = 0, tokens = 0;
        const SampleRound* r = samples_.FindRound(id, e.job.round());
        if (e.job.state() == v1::JOB_STATE_SAMPLING && r != nullptr) {
          samples = r->count;
          tokens = r->tokens;
        }
        if (!e.rate.empty() && samples < e.rate.back().samples) e.rate.clear();  // a new round
        e.rate.push_back({now, samples, tokens});
        while (e.rate.size() > 11) e.rate.erase(e.rate.begin());
      }
      if (e.progress_dirty && now - e.last_publish_ms >= options_.watch_progress_interval_ms) {
        e.job.set_version(e.job.version() + 1);
        dirty_.insert(id);
      }
    }
    pending = EndOp();
  }
  AfterDurable(std::move(pending), nullptr);
}

}  // namespace ssd
