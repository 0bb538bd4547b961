// Workers and their leases: registration, identity, heartbeats, handing out
// shards, training groups and pushes, reports, expiry.
//
// Lease lifecycle of one shard (every arrow is persisted):
//
//   QUEUED ──grant (epoch+1)──► LEASED ──report done──► DONE
//     ▲                           │
//     └── expired / failed / ─────┘  (attempts+1; at max_shard_attempts the
//         worker died / left           shard is FAILED and so is its job)
//
// The epoch is a fencing token: anything sent under an older epoch is
// refused, because a lease is not a lock (a paused worker can wake up after
// its lease went to someone else).
#include <glog/logging.h>
#include <sys/random.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/metrics/metrics_registry.h"
#include "common/util/sha256.h"
#include "common/util/status_macros.h"
#include "coordinator/coordinator.h"
#include "coordinator/job_spec.h"
#include "coordinator/job_state.h"
#include "coordinator/store_schema.h"

namespace ssd {
namespace {

constexpr int kMaxFailuresKept = 10;

std::string NewSession() {
  unsigned char raw[24];
  size_t got = 0;
  while (got < sizeof(raw)) {
    const ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
    CHECK_GT(n, 0) << "getrandom failed";
    got += static_cast<size_t>(n);
  }
  return HexEncode(absl::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
}

std::string Describe(const v1::LeaseRef& l) {
  return absl::StrCat(LeaseKindName(l.kind()), " lease of job ", l.job_id(), " round ", l.round(),
                      l.kind() == v1::LEASE_KIND_SAMPLE || l.kind() == v1::LEASE_KIND_EVAL
                          ? absl::StrCat(" shard ", l.shard())
                          : "",
                      " (epoch ", l.epoch(), ")");
}

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

}  // namespace

v1::LeaseRef Coordinator::RefOf(const ShardEntry& s) const {
  v1::LeaseRef r;
  r.set_job_id(s.rec.job_id());
  r.set_round(s.rec.round());
  r.set_kind(s.rec.kind());
  r.set_shard(s.rec.shard());
  r.set_epoch(s.rec.epoch());
  return r;
}

absl::StatusOr<Coordinator::WorkerEntry*> Coordinator::Authenticate(const v1::WorkerIdentity& identity) {
  if (identity.worker_id().empty()) {
    return absl::InvalidArgumentError("identity.worker_id: empty; call RegisterWorker first");
  }
  auto it = workers_.find(identity.worker_id());
  if (it == workers_.end()) {
    return absl::NotFoundError(
        absl::StrCat("worker ", identity.worker_id(), " is not registered with this coordinator; register again"));
  }
  WorkerEntry& w = it->second;
  if (!ConstantTimeEquals(Sha256(identity.session()), w.rec.session_sha256())) {
    return absl::PermissionDeniedError(absl::StrCat("identity.session does not match worker ", identity.worker_id()));
  }
  if (w.state == v1::WORKER_STATE_LEFT) {
    return absl::FailedPreconditionError(absl::StrCat("worker ", identity.worker_id(), " deregistered; register again"));
  }
  w.last_seen_ms = clock_->NowMs();
  if (w.state != v1::WORKER_STATE_ALIVE) {
    LOG(INFO) << "worker " << identity.worker_id() << " is back (" << WorkerStateName(w.state) << " -> ALIVE)";
    w.state = v1::WORKER_STATE_ALIVE;
    PersistWorker(w);
  }
  return &w;
}

void Coordinator::NoteHeld(WorkerEntry& w, const google::protobuf::RepeatedPtrField<v1::WeightsRef>& held) {
  w.held.clear();
  for (const v1::WeightsRef& r : held) {
    if (w.held.size() >= 1000) break;
    if (!r.job_id().empty() && r.version() >= 0) w.held.insert({r.job_id(), r.version()});
  }
}

void Coordinator::RegisterWorker(const v1::RegisterWorkerRequest& request, const std::string& peer,
                                 Done<v1::RegisterWorkerResponse> done) {
  if (request.role() != v1::WORKER_ROLE_SAMPLER && request.role() != v1::WORKER_ROLE_TRAINER) {
    return done(absl::InvalidArgumentError("role: must be SAMPLER or TRAINER"));
  }
  if (request.address().size() > 256 || request.hostname().size() > 256) {
    return done(absl::InvalidArgumentError("address, hostname: at most 256 characters"));
  }
  if (!request.address().empty() && request.address().find(':') == std::string::npos) {
    return done(absl::InvalidArgumentError(absl::StrCat("address: \"", request.address(), "\" is not host:port")));
  }
  const int port = request.capabilities().rendezvous_port();
  if (port < 0 || port > 65535) return done(absl::InvalidArgumentError("capabilities.rendezvous_port: not a TCP port"));
  if (request.capabilities().has_rank_hint() && request.capabilities().rank_hint() < 0) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("capabilities.rank_hint: ", request.capabilities().rank_hint(), " is negative")));
  }
  if (request.weights_held_size() > 1000) return done(absl::InvalidArgumentError("weights_held: more than 1000"));
  Pending pending;
  absl::StatusOr<v1::RegisterWorkerResponse> result;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status h = Health(); !h.ok()) return done(h);
    const int64_t now = clock_->NowMs();
    v1::RegisterWorkerResponse r;
    WorkerEntry* w = nullptr;
    std::string session;
    if (!request.resume().worker_id().empty()) {
      auto it = workers_.find(request.resume().worker_id());
      if (it != workers_.end()) {
        if (!ConstantTimeEquals(Sha256(request.resume().session()), it->second.rec.session_sha256())) {
          return done(absl::PermissionDeniedError(
              absl::StrCat("resume.session does not match worker ", request.resume().worker_id())));
        }
        if (it->second.rec.status().role() != request.role()) {
          return done(absl::InvalidArgumentError(absl::StrCat("role: worker ", request.resume().worker_id(),
                                                              " registered as ",
                                                              WorkerRoleName(it->second.rec.status().role()))));
        }
        w = &it->second;
        session = request.resume().session();
        r.set_resumed(true);
      }
    }
    if (w == nullptr) {
      const std::string prefix = request.role() == v1::WORKER_ROLE_SAMPLER ? "sampler" : "trainer";
      const std::string id = absl::StrCat(prefix, "-", next_worker_++);
      v1::Counters c;
      c.set_next_job(next_job_);
      c.set_next_worker(next_worker_);
      WriteBatch meta;
      meta.Put(kMeta, "counters", c.SerializeAsString());
      Write(std::move(meta));
      w = &workers_[id];
      session = NewSession();
      w->rec.set_session_sha256(Sha256(session));
      w->rec.mutable_status()->set_worker_id(id);
      w->rec.mutable_status()->set_registered_unix_ms(now);
    }
    v1::WorkerStatus* st = w->rec.mutable_status();
    st->set_role(request.role());
    st->set_address(request.address());
    st->set_hostname(request.hostname());
    *st->mutable_capabilities() = request.capabilities();
    st->set_peer(peer);
    w->state = v1::WORKER_STATE_ALIVE;
    w->last_seen_ms = now;
    NoteHeld(*w, request.weights_held());
    PersistWorker(*w);
    LOG(INFO) << (r.resumed() ? "worker resumed: " : "worker registered: ") << st->worker_id() << " ("
              << WorkerRoleName(request.role()) << ", " << (request.address().empty() ? peer : request.address()) << ")";
    r.mutable_identity()->set_worker_id(st->worker_id());
    r.mutable_identity()->set_session(session);
    r.set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
    r.set_lease_ttl_ms(options_.lease_ttl_ms);
    result = std::move(r);
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

void Coordinator::Heartbeat(const v1::HeartbeatRequest& request, Done<v1::HeartbeatResponse> done) {
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
    auto w = Authenticate(request.identity());
    if (!w.ok()) return done(w.status());
    WorkerEntry& worker = **w;
    NoteHeld(worker, request.weights_held());
    v1::HeartbeatResponse r;
    for (const v1::LeaseRef& ref : request.leases()) {
      JobEntry* e = FindJob(ref.job_id());
      if (e == nullptr || IsTerminal(e->job.state())) {
        *r.add_revoked() = ref;
        continue;
      }
      auto s = e->shards.find({ref.round(), ref.kind(), ref.shard()});
      if (s == e->shards.end() || s->second.rec.epoch() != ref.epoch() ||
          s->second.rec.state() != v1::SHARD_STATE_LEASED) {
        *r.add_revoked() = ref;
        continue;
      }
      const v1::ShardRecord& rec = s->second.rec;
      const bool mine = rec.kind() == v1::LEASE_KIND_TRAIN
                            ? std::count(rec.group().begin(), rec.group().end(), worker.rec.status().worker_id()) > 0
                            : rec.worker_id() == worker.rec.status().worker_id();
      if (!mine) {
        // The current epoch of someone else's lease: this worker was never
        // given it, so this is not a race but a worker acting for another.
        return done(absl::PermissionDeniedError(absl::StrCat(Describe(ref), " is held by ",
                                                             rec.kind() == v1::LEASE_KIND_TRAIN
                                                                 ? absl::StrJoin(rec.group(), ",")
                                                                 : rec.worker_id(),
                                                             ", not by ", worker.rec.status().worker_id())));
      }
    }
    // Renew what the worker says it is working on. A lease it no longer
    // lists (it gave up on the work, say after a broken stream) is not
    // renewed and lapses at its TTL, so the shard is not stranded.
    const int64_t now = clock_->NowMs();
    for (const v1::LeaseRef& ref : request.leases()) {
      if (worker.leases.count({ref.job_id(), {ref.round(), ref.kind(), ref.shard()}}) == 0) continue;
      ShardEntry& s = jobs_.at(ref.job_id()).shards.at({ref.round(), ref.kind(), ref.shard()});
      if (s.rec.epoch() != ref.epoch() || s.rec.state() != v1::SHARD_STATE_LEASED) continue;
      if (s.expiry_ms != 0) s.expiry_ms = now + options_.lease_ttl_ms;
      *r.add_renewed() = RefOf(s);
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

void Coordinator::Grant(JobEntry& e, ShardEntry& s, WorkerEntry& w) {
  s.rec.set_epoch(s.rec.epoch() + 1);
  SetShardState(e, s, v1::SHARD_STATE_LEASED);
  s.rec.set_worker_id(w.rec.status().worker_id());
  if (s.rec.kind() == v1::LEASE_KIND_SAMPLE || s.rec.kind() == v1::LEASE_KIND_EVAL) {
    s.expiry_ms = clock_->NowMs() + options_.lease_ttl_ms;
  }
  w.leases.insert({e.job.id(), {s.rec.round(), s.rec.kind(), s.rec.shard()}});
  PersistShard(s);
  if (leases_granted_ != nullptr) leases_granted_->Increment();
  // A durable change, so watchers see it now like the report that ends the
  // lease. Left to the throttled progress publish, the last snapshot a
  // watcher held was nearly always taken at a report, when the reporting
  // worker had not yet leased its next shard, and showed one lease too few.
  MarkChanged(e);
}

std::vector<v1::PushTarget> Coordinator::Holders(const std::string& job_id, int32_t version) const {
  std::vector<v1::PushTarget> out;
  for (const auto& [id, w] : workers_) {
    if (w.state != v1::WORKER_STATE_ALIVE || w.rec.status().role() != v1::WORKER_ROLE_SAMPLER) continue;
    if (w.held.count({job_id, version}) == 0 || w.rec.status().address().empty()) continue;
    v1::PushTarget t;
    t.set_worker_id(id);
    t.set_address(w.rec.status().address());
    out.push_back(std::move(t));
  }
  return out;
}

v1::AcquireWorkResponse Coordinator::AcquireForSampler(WorkerEntry& w, std::vector<std::string>* eval_keys) {
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
  for (const std::string& id : job_order_) {
    JobEntry& e = jobs_.at(id);
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
    ShardEntry* next = nullptr;
    auto q = e.queued.lower_bound({round, kind, 0});
    if (q != e.queued.end() && std::get<0>(*q) == round && std::get<1>(*q) == kind) next = &e.shards.at(*q);
    if (next == nullptr) continue;
    if (version > 0 && w.held.count({e.job.id(), version}) == 0) {
      idle->set_reason(absl::StrCat("job ", e.job.id(), " needs weights version ", version, ", which this sampler lacks"));
      idle->mutable_wanted()->set_job_id(e.job.id());
      idle->mutable_wanted()->set_version(version);
      idle->clear_holders();
      for (v1::PushTarget& t : Holders(e.job.id(), version)) *idle->add_holders() = std::move(t);
      continue;
    }
    Grant(e, *next, w);
    sampler_cursor_ = idx + 1;
    v1::ShardLease* lease = resp.mutable_shard();
    *lease->mutable_lease() = RefOf(*next);
    lease->mutable_weights()->set_job_id(e.job.id());
    lease->mutable_weights()->set_version(version);
    lease->set_base_model(e.job.spec().model());
    lease->set_seed(SeedFor(e, kind, round));
    lease->set_ttl_ms(options_.lease_ttl_ms);
    lease->set_enable_thinking(e.job.spec().enable_thinking());
    if (!eval) lease->set_sft_max_seq_len(e.job.spec().train().max_seq_len());
    const int32_t first = next->rec.first_problem();
    if (eval) {
      const v1::EvalSpec& ev = e.job.spec().eval();
      v1::EvalTask* t = lease->mutable_eval();
      for (double temp : EvalTemperatures(e, round)) t->add_temperatures(temp);
      t->set_n(ev.n());
      t->set_top_k(ev.top_k());
      t->set_top_p(ev.top_p());
      t->set_min_p(ev.min_p());
      for (const v1::Truncation& tr : EvalTruncations(ev)) *t->add_truncations() = tr;
      t->set_max_tokens(ev.max_tokens());
      t->set_timeout_s(ev.timeout_s());
      for (int32_t p = first; p < first + next->rec.num_problems(); ++p) {
        *lease->add_tasks()->mutable_problem() = e.eval_problems[static_cast<size_t>(p)];
        eval_keys->push_back(ProblemKey(e.job.id(), kEvalProblems, static_cast<uint32_t>(p)));
      }
    } else {
      *lease->mutable_sampling() = e.job.spec().sampling();
      const SampleRound& r = RoundSamples(e, round);
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

v1::TrainingAssignment Coordinator::TrainingFor(const JobEntry& e, const ShardEntry& s, int rank) const {
  v1::TrainingAssignment a;
  *a.mutable_lease() = RefOf(s);
  const int32_t round = s.rec.round();
  a.set_rank(rank);
  a.set_world_size(s.rec.group_size());
  a.set_master_addr(s.rec.master_addr());
  a.set_master_port(s.rec.master_port());
  a.mutable_start()->set_job_id(e.job.id());
  a.mutable_start()->set_version(round - 1);
  a.set_start_model(e.job.spec().model());
  for (const v1::RoundStatus& rs : e.job.rounds()) {
    if (rs.round() == round - 1 && !rs.model_path().empty()) a.set_start_model(rs.model_path());
  }
  *a.mutable_train() = e.job.spec().train();
  if (!e.job.spec().output_dir().empty()) {
    a.set_output_dir(absl::StrCat(e.job.spec().output_dir(), "/round-", round));
  }
  a.mutable_output()->set_job_id(e.job.id());
  a.mutable_output()->set_version(round);
  for (const v1::RoundStatus& rs : e.job.rounds()) {
    if (rs.round() == round) a.set_survivors(rs.filter().survivors());
  }
  a.set_enable_thinking(e.job.spec().enable_thinking());
  return a;
}

v1::PushAssignment Coordinator::PushFor(const JobEntry& e, const ShardEntry& s) const {
  v1::PushAssignment p;
  *p.mutable_lease() = RefOf(s);
  p.mutable_weights()->set_job_id(e.job.id());
  p.mutable_weights()->set_version(s.rec.round());
  *p.mutable_chain() = s.rec.chain();
  for (const v1::RoundStatus& rs : e.job.rounds()) {
    if (rs.round() == s.rec.round()) p.set_model_dir(rs.model_path());
  }
  p.set_base_model(e.job.spec().model());
  return p;
}

v1::AcquireWorkResponse Coordinator::AcquireForTrainer(WorkerEntry& w) {
  v1::AcquireWorkResponse resp;
  const std::string& me = w.rec.status().worker_id();
  // Work already assigned is handed out again (the reply may have been lost).
  for (const auto& [job, sid] : w.leases) {
    JobEntry& e = jobs_.at(job);
    ShardEntry& s = e.shards.at(sid);
    if (s.rec.state() != v1::SHARD_STATE_LEASED) continue;
    if (s.rec.kind() == v1::LEASE_KIND_TRAIN) {
      const int rank = static_cast<int>(std::find(s.rec.group().begin(), s.rec.group().end(), me) - s.rec.group().begin());
      *resp.mutable_training() = TrainingFor(e, s, rank);
      return resp;
    }
    if (s.rec.kind() == v1::LEASE_KIND_PUSH) {
      *resp.mutable_push() = PushFor(e, s);
      return resp;
    }
  }
  v1::Idle* idle = resp.mutable_idle();
  idle->set_retry_after_ms(options_.idle_retry_ms);
  idle->set_reason("no job is training or pushing");
  // Training groups, first come first served by time in TRAINING.
  std::vector<JobEntry*> training;
  for (const std::string& id : job_order_) {
    JobEntry& e = jobs_.at(id);
    if (e.job.state() == v1::JOB_STATE_TRAINING) training.push_back(&e);
  }
  std::stable_sort(training.begin(), training.end(), [](const JobEntry* a, const JobEntry* b) {
    return a->job.state_since_unix_ms() < b->job.state_since_unix_ms();
  });
  for (JobEntry* e : training) {
    auto it = e->shards.find({e->job.round(), v1::LEASE_KIND_TRAIN, 0});
    if (it == e->shards.end() || it->second.rec.state() != v1::SHARD_STATE_QUEUED) continue;
    ShardEntry& s = it->second;
    const int world = e->job.spec().train().trainers();
    std::vector<WorkerEntry*> idle_trainers = {&w};
    for (auto& [id, other] : workers_) {
      if (&other == &w || other.rec.status().role() != v1::WORKER_ROLE_TRAINER) continue;
      if (other.state != v1::WORKER_STATE_ALIVE) continue;
      bool busy = false;
      for (const auto& [job, sid] : other.leases) {
        busy |= std::get<1>(sid) == v1::LEASE_KIND_TRAIN || std::get<1>(sid) == v1::LEASE_KIND_PUSH;
      }
      if (!busy) idle_trainers.push_back(&other);
    }
    if (static_cast<int>(idle_trainers.size()) < world) {
      idle->set_reason(absl::StrCat("job ", e->job.id(), " trains on ", world, " trainers; ", idle_trainers.size(),
                                    " are idle"));
      // FIFO: a later job does not take trainers the first one is waiting
      // for (pushes, below, still go ahead).
      break;
    }
    // Ranks follow the workers' rank hints (unhinted last, the asking
    // worker first among equals), so without hints the asker is rank 0.
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
    for (int r = 0; r < world; ++r) s.rec.add_group(idle_trainers[static_cast<size_t>(r)]->rec.status().worker_id());
    const v1::WorkerStatus& rank0 = rank0_worker.rec.status();
    // Rank 0 hosts the store: its advertised address, else the address its
    // connection came from, else its host name.
    std::string master = !rank0.address().empty() ? HostOf(rank0.address()) : PeerHost(rank0.peer());
    if (master.empty()) master = rank0.hostname();
    s.rec.set_master_addr(master);
    s.rec.set_master_port(rank0.capabilities().rendezvous_port() > 0 ? rank0.capabilities().rendezvous_port() : 29500);
    Grant(*e, s, rank0_worker);
    for (int r = 1; r < world; ++r) {
      idle_trainers[static_cast<size_t>(r)]->leases.insert({e->job.id(), {s.rec.round(), s.rec.kind(), s.rec.shard()}});
    }
    LOG(INFO) << "job " << e->job.id() << " round " << s.rec.round() << ": training group " << absl::StrJoin(s.rec.group(), ",")
              << " (epoch " << s.rec.epoch() << ", rendezvous " << s.rec.master_addr() << ":" << s.rec.master_port()
              << ")";
    const int my_rank = static_cast<int>(std::find(s.rec.group().begin(), s.rec.group().end(), me) - s.rec.group().begin());
    if (my_rank >= world) {
      // Others' hints came first: they got their leases and start on their
      // next AcquireWork; this worker waits for the next group.
      idle->set_reason(absl::StrCat("job ", e->job.id(), " formed its training group of ", world,
                                    " from lower rank hints"));
      return resp;
    }
    resp.clear_idle();
    *resp.mutable_training() = TrainingFor(*e, s, my_rank);
    return resp;
  }
  // Pushes: a member of the round's training group (rank 0 first) pushes;
  // any trainer may when none of them is alive.
  for (const std::string& id : job_order_) {
    JobEntry& e = jobs_.at(id);
    if (e.job.state() != v1::JOB_STATE_PUSHING) continue;
    auto it = e.shards.find({e.job.round(), v1::LEASE_KIND_PUSH, 0});
    if (it == e.shards.end() || it->second.rec.state() != v1::SHARD_STATE_QUEUED) continue;
    const ShardEntry& train = e.shards.at({e.job.round(), v1::LEASE_KIND_TRAIN, 0});
    std::string pusher;
    for (const std::string& member : train.rec.group()) {
      auto m = workers_.find(member);
      if (m != workers_.end() && m->second.state == v1::WORKER_STATE_ALIVE) {
        pusher = member;
        break;
      }
    }
    if (!pusher.empty() && pusher != me) continue;
    std::vector<v1::PushTarget> chain;
    for (const auto& [sid, sw] : workers_) {
      if (sw.rec.status().role() != v1::WORKER_ROLE_SAMPLER || sw.state != v1::WORKER_STATE_ALIVE) continue;
      if (sw.rec.status().address().empty()) continue;
      v1::PushTarget t;
      t.set_worker_id(sid);
      t.set_address(sw.rec.status().address());
      chain.push_back(std::move(t));
    }
    if (chain.empty()) {
      idle->set_reason(absl::StrCat("job ", e.job.id(), " waits for a live sampler to push its weights to"));
      continue;
    }
    ShardEntry& s = it->second;
    s.rec.clear_chain();
    for (v1::PushTarget& t : chain) *s.rec.add_chain() = std::move(t);
    Grant(e, s, w);
    *resp.mutable_push() = PushFor(e, s);
    return resp;
  }
  return resp;
}

void Coordinator::AcquireWork(const v1::AcquireWorkRequest& request, Done<v1::AcquireWorkResponse> done) {
  if (request.weights_held_size() > 1000) return done(absl::InvalidArgumentError("weights_held: more than 1000"));
  Pending pending;
  v1::AcquireWorkResponse resp;
  std::vector<std::string> eval_keys;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status h = Health(); !h.ok()) return done(h);
    auto w = Authenticate(request.identity());
    if (!w.ok()) return done(w.status());
    NoteHeld(**w, request.weights_held());
    resp = (*w)->rec.status().role() == v1::WORKER_ROLE_SAMPLER ? AcquireForSampler(**w, &eval_keys)
                                                                 : AcquireForTrainer(**w);
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
      resp.mutable_shard()->mutable_tasks(static_cast<int>(i))->mutable_problem()->set_benchmark_line(
          p.benchmark_line());
    }
  }
  ReplyAfter<v1::AcquireWorkResponse>(std::move(pending), std::move(resp), std::move(done));
}

absl::StatusOr<std::pair<Coordinator::JobEntry*, Coordinator::ShardEntry*>> Coordinator::CheckLease(
    const v1::LeaseRef& lease, const WorkerEntry& worker) {
  if (lease.job_id().empty()) return absl::InvalidArgumentError("lease.job_id: empty");
  if (lease.kind() == v1::LEASE_KIND_UNSPECIFIED) return absl::InvalidArgumentError("lease.kind: unspecified");
  JobEntry* e = FindJob(lease.job_id());
  if (e == nullptr) return absl::NotFoundError(absl::StrCat("lease.job_id: no job \"", lease.job_id(), "\""));
  if (IsTerminal(e->job.state())) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", lease.job_id(), " is ", JobStateName(e->job.state()), "; stop working on it"));
  }
  auto it = e->shards.find({lease.round(), lease.kind(), lease.shard()});
  if (it == e->shards.end()) return absl::NotFoundError(absl::StrCat("no such lease: ", Describe(lease)));
  ShardEntry& s = it->second;
  const std::string& me = worker.rec.status().worker_id();
  if (s.rec.epoch() != lease.epoch()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stale ", Describe(lease), ": the work is at epoch ", s.rec.epoch(),
        " (the lease lapsed and was handed out again); drop this work"));
  }
  if (s.rec.state() != v1::SHARD_STATE_LEASED) {
    return absl::FailedPreconditionError(absl::StrCat(Describe(lease), " is no longer held (the work is ",
                                                      v1::ShardState_Name(s.rec.state()), ")"));
  }
  const bool mine = s.rec.kind() == v1::LEASE_KIND_TRAIN
                        ? std::count(s.rec.group().begin(), s.rec.group().end(), me) > 0
                        : s.rec.worker_id() == me;
  if (!mine) {
    return absl::PermissionDeniedError(absl::StrCat(Describe(lease), " belongs to ",
                                                    s.rec.kind() == v1::LEASE_KIND_TRAIN
                                                        ? absl::StrJoin(s.rec.group(), ",")
                                                        : s.rec.worker_id(),
                                                    ", not to ", me));
  }
  return std::make_pair(e, &s);
}

void Coordinator::ReturnShard(JobEntry& e, ShardEntry& s, const std::string& reason, bool graceful) {
  const ShardId sid{s.rec.round(), s.rec.kind(), s.rec.shard()};
  if (s.rec.kind() == v1::LEASE_KIND_TRAIN) {
    for (const std::string& member : s.rec.group()) {
      auto m = workers_.find(member);
      if (m != workers_.end()) m->second.leases.erase({e.job.id(), sid});
    }
    s.rec.clear_group();
    s.rec.clear_ranks_done();
    e.live.clear_train_step();
  } else {
    auto m = workers_.find(s.rec.worker_id());
    if (m != workers_.end()) m->second.leases.erase({e.job.id(), sid});
  }
  SetShardState(e, s, v1::SHARD_STATE_QUEUED);
  s.expiry_ms = 0;
  if (!graceful) {
    s.rec.set_attempts(s.rec.attempts() + 1);
    s.rec.add_failures(reason.substr(0, 2000));
    while (s.rec.failures_size() > kMaxFailuresKept) s.rec.mutable_failures()->erase(s.rec.mutable_failures()->begin());
  }
  const int max = e.job.spec().max_shard_attempts();
  if (!graceful && s.rec.attempts() >= max) {
    SetShardState(e, s, v1::SHARD_STATE_FAILED);
    PersistShard(s);
    const std::string what = s.rec.kind() == v1::LEASE_KIND_TRAIN  ? "training"
                             : s.rec.kind() == v1::LEASE_KIND_PUSH ? "the weight push"
                                                                    : absl::StrCat(LeaseKindName(s.rec.kind()), " shard ", s.rec.shard());
    FailJob(e, absl::StrCat(what, " of round ", s.rec.round(), " failed ", s.rec.attempts(),
                            " times (max_shard_attempts); reasons: ", absl::StrJoin(s.rec.failures(), "; ")));
    return;
  }
  PersistShard(s);
  e.progress_dirty = true;
}

void Coordinator::ReleaseWorker(WorkerEntry& w, const std::string& reason, bool graceful) {
  const auto leases = w.leases;
  for (const auto& [job, sid] : leases) {
    JobEntry* e = FindJob(job);
    if (e == nullptr || IsTerminal(e->job.state())) continue;
    auto s = e->shards.find(sid);
    if (s == e->shards.end() || s->second.rec.state() != v1::SHARD_STATE_LEASED) continue;
    if (!graceful && leases_expired_ != nullptr) leases_expired_->Increment();
    ReturnShard(*e, s->second, reason, graceful);
    MarkChanged(*e);
  }
  w.leases.clear();
}

void Coordinator::ExpireLeases() {
  const int64_t now = clock_->NowMs();
  for (auto& [id, e] : jobs_) {
    if (IsTerminal(e.job.state())) continue;
    const std::vector<ShardId> leased(e.leased.begin(), e.leased.end());
    for (const ShardId& sid : leased) {
      ShardEntry& s = e.shards.at(sid);
      if (s.expiry_ms == 0 || s.expiry_ms > now) continue;
      LOG(WARNING) << "job " << id << ": " << Describe(RefOf(s)) << " held by " << s.rec.worker_id()
                   << " expired; back to the queue";
      if (leases_expired_ != nullptr) leases_expired_->Increment();
      ReturnShard(e, s, absl::StrCat("lease held by ", s.rec.worker_id(), " expired without a renewal"), false);
      MarkChanged(e);
      if (IsTerminal(e.job.state())) break;
    }
  }
}

absl::Status Coordinator::ReportShardDone(JobEntry& e, ShardEntry& s, WorkerEntry& w, const v1::ShardDone& done) {
  const int32_t first = s.rec.first_problem();
  const int32_t count = s.rec.num_problems();
  if (s.rec.kind() == v1::LEASE_KIND_SAMPLE) {
    if (done.eval_outcomes_size() > 0) return absl::InvalidArgumentError("eval_outcomes: only for eval shards");
    const SampleRound& r = RoundSamples(e, s.rec.round());
    std::vector<std::string> missing;
    int64_t n_missing = 0;
    for (int32_t p = first; p < first + count; ++p) {
      for (int64_t i = 0; i < r.n; ++i) {
        if (r.Has(static_cast<int64_t>(p) * r.n + i)) continue;
        if (++n_missing <= 5) missing.push_back(absl::StrCat("\"", e.problems[static_cast<size_t>(p)].id(), "\"#", i));
      }
    }
    if (n_missing > 0) {
      return absl::FailedPreconditionError(absl::StrCat(Describe(RefOf(s)), " misses ", n_missing, " sample(s) (",
                                                        absl::StrJoin(missing, ", "), n_missing > 5 ? ", ..." : "",
                                                        "): append them before reporting the shard done"));
    }
  } else {
    const std::vector<double> temps = EvalTemperatures(e, s.rec.round());
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
        return absl::InvalidArgumentError(absl::StrCat("eval_outcomes[", i, "]: truncation ", o.truncation(),
                                                       " is not in [0, ", ntrunc, ")"));
      }
      if (o.n() != n || o.c() < 0 || o.c() > o.n()) {
        return absl::InvalidArgumentError(absl::StrCat("eval_outcomes[", i, "]: n must be ", n,
                                                       " and c in [0, n]; got n=", o.n(), " c=", o.c()));
      }
      const size_t setting = static_cast<size_t>(o.truncation()) * temps.size() + static_cast<size_t>(t - temps.begin());
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
      b.Put(kEvals, EvalKey(e.job.id(), static_cast<uint32_t>(s.rec.round()), key.first, key.second),
            o.SerializeAsString());
      e.evals[s.rec.round()][key] = o;
    }
    Write(std::move(b));
  }
  SetShardState(e, s, v1::SHARD_STATE_DONE);
  s.expiry_ms = 0;
  w.leases.erase({e.job.id(), {s.rec.round(), s.rec.kind(), s.rec.shard()}});
  PersistShard(s);
  MarkChanged(e);
  Advance(e);
  return absl::OkStatus();
}

void Coordinator::ReportWork(const v1::ReportWorkRequest& request, Done<v1::ReportWorkResponse> done) {
  Pending pending;
  absl::StatusOr<v1::ReportWorkResponse> result;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status h = Health(); !h.ok()) return done(h);
    auto w = Authenticate(request.identity());
    if (!w.ok()) return done(w.status());
    WorkerEntry& worker = **w;
    auto checked = CheckLease(request.lease(), worker);
    if (!checked.ok()) {
      result = checked.status();
    } else {
      JobEntry& e = *checked->first;
      ShardEntry& s = *checked->second;
      const v1::LeaseKind kind = s.rec.kind();
      const std::string& me = worker.rec.status().worker_id();
      const int rank = kind == v1::LEASE_KIND_TRAIN ? static_cast<int>(std::find(s.rec.group().begin(), s.rec.group().end(), me) -
                                                                       s.rec.group().begin())
                                                     : 0;
      absl::Status st;
      switch (request.report_case()) {
        case v1::ReportWorkRequest::kShardDone:
          if (kind != v1::LEASE_KIND_SAMPLE && kind != v1::LEASE_KIND_EVAL) {
            st = absl::InvalidArgumentError("shard_done: only for sample and eval leases");
          } else {
            st = ReportShardDone(e, s, worker, request.shard_done());
          }
          break;
        case v1::ReportWorkRequest::kFailed: {
          const std::string reason = absl::StrCat(me, ": ", request.failed().reason().substr(0, 1000));
          LOG(WARNING) << "job " << e.job.id() << ": " << Describe(request.lease()) << " failed: " << reason;
          ReturnShard(e, s, reason, /*graceful=*/false);
          MarkChanged(e);
          break;
        }
        case v1::ReportWorkRequest::kTrainingProgress: {
          const v1::TrainingProgress& p = request.training_progress();
          if (kind != v1::LEASE_KIND_TRAIN) {
            st = absl::InvalidArgumentError("training_progress: only for training leases");
          } else if (p.step() < 0 || p.total_steps() < p.step() || !std::isfinite(p.loss()) ||
                     !std::isfinite(p.tokens_per_s()) || p.tokens_per_s() < 0) {
            st = absl::InvalidArgumentError("training_progress: need 0 <= step <= total_steps and finite loss and rate");
          } else if (rank == 0) {
            e.live.set_train_step(p.step());
            e.live.set_train_total_steps(p.total_steps());
            e.live.set_train_loss(p.loss());
            e.live.set_train_tokens_per_s(p.tokens_per_s());
            e.progress_dirty = true;
          }
          break;
        }
        case v1::ReportWorkRequest::kTrainingDone: {
          const v1::TrainingDone& d = request.training_done();
          if (kind != v1::LEASE_KIND_TRAIN) {
            st = absl::InvalidArgumentError("training_done: only for training leases");
          } else if (rank == 0 && d.model_path().empty()) {
            st = absl::InvalidArgumentError("training_done.model_path: rank 0 must say where the model is");
          } else {
            if (std::count(s.rec.ranks_done().begin(), s.rec.ranks_done().end(), rank) == 0) s.rec.add_ranks_done(rank);
            worker.leases.erase({e.job.id(), {s.rec.round(), kind, s.rec.shard()}});
            if (rank == 0) {
              for (v1::RoundStatus& rs : *e.job.mutable_rounds()) {
                if (rs.round() != s.rec.round()) continue;
                rs.set_model_path(d.model_path());
                rs.set_final_loss(d.final_loss());
                rs.set_train_steps(d.steps());
              }
              SetShardState(e, s, v1::SHARD_STATE_DONE);
              for (const std::string& member : s.rec.group()) {
                auto m = workers_.find(member);
                if (m != workers_.end()) m->second.leases.erase({e.job.id(), {s.rec.round(), kind, s.rec.shard()}});
              }
              PersistShard(s);
              PersistJob(e);
              AfterTraining(e);
            } else {
              PersistShard(s);
            }
            MarkChanged(e);
          }
          break;
        }
        case v1::ReportWorkRequest::kPushProgress: {
          const v1::PushProgress& p = request.push_progress();
          if (kind != v1::LEASE_KIND_PUSH) {
            st = absl::InvalidArgumentError("push_progress: only for push leases");
          } else {
            e.live.set_push_bytes_done(p.bytes_done());
            e.live.set_push_bytes_total(p.bytes_total());
            e.live.set_push_samplers_done(p.samplers_done());
            e.live.set_push_samplers_total(p.samplers_total());
            e.progress_dirty = true;
          }
          break;
        }
        case v1::ReportWorkRequest::kPushDone: {
          if (kind != v1::LEASE_KIND_PUSH) {
            st = absl::InvalidArgumentError("push_done: only for push leases");
          } else if (request.push_done().reached_size() == 0) {
            ReturnShard(e, s, absl::StrCat(me, ": the push reached no sampler"), /*graceful=*/false);
            MarkChanged(e);
          } else {
            for (const std::string& id : request.push_done().reached()) {
              auto sw = workers_.find(id);
              if (sw != workers_.end()) sw->second.held.insert({e.job.id(), s.rec.round()});
            }
            SetShardState(e, s, v1::SHARD_STATE_DONE);
            worker.leases.erase({e.job.id(), {s.rec.round(), kind, s.rec.shard()}});
            PersistShard(s);
            MarkChanged(e);
            AfterPush(e);
          }
          break;
        }
        default:
          st = absl::InvalidArgumentError("report: none of shard_done, failed, training_*, push_* is set");
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

void Coordinator::Deregister(const v1::DeregisterRequest& request, Done<v1::DeregisterResponse> done) {
  Pending pending;
  absl::StatusOr<v1::DeregisterResponse> result;
  {
    absl::MutexLock lock(&mu_);
    auto w = Authenticate(request.identity());
    if (!w.ok()) return done(w.status());
    v1::DeregisterResponse r;
    r.set_leases_returned(static_cast<int32_t>((*w)->leases.size()));
    ReleaseWorker(**w, absl::StrCat("worker ", request.identity().worker_id(), " left"), /*graceful=*/true);
    (*w)->state = v1::WORKER_STATE_LEFT;
    PersistWorker(**w);
    LOG(INFO) << "worker " << request.identity().worker_id() << " left; " << r.leases_returned()
              << " lease(s) returned";
    result = std::move(r);
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

}  // namespace ssd
