#include "coordinator/lease_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/job_state.h"

namespace ssd {
namespace {

constexpr int kMaxFailuresKept = 10;

bool Lapses(v1::LeaseKind kind) { return kind == v1::LEASE_KIND_SAMPLE || kind == v1::LEASE_KIND_EVAL; }

}  // namespace

LeaseTable::LeaseTable(Persist persist) : persist_(std::move(persist)) {}

void LeaseTable::Index(const Shard& s, int delta) {
  const ShardId id = s.id();
  counts_[{s.rec.round(), s.rec.kind(), s.rec.state()}] += delta;
  if (s.rec.state() == internal::SHARD_STATE_QUEUED) {
    if (delta > 0) queued_.insert(id);
    if (delta < 0) queued_.erase(id);
  }
  if (s.rec.state() == internal::SHARD_STATE_LEASED) {
    if (delta > 0) leased_.insert(id);
    if (delta < 0) leased_.erase(id);
  }
}

void LeaseTable::SetState(Shard& s, internal::ShardState state) {
  Index(s, -1);
  s.rec.set_state(state);
  Index(s, +1);
}

Shard& LeaseTable::Add(internal::ShardRecord rec) {
  persist_(rec);
  Shard s;
  s.rec = std::move(rec);
  Shard& slot = shards_[s.id()] = std::move(s);
  Index(slot, +1);
  return slot;
}

void LeaseTable::AddRange(const std::string& job_id, int32_t round, v1::LeaseKind kind, int64_t problems,
                          int32_t size) {
  const int32_t n = static_cast<int32_t>((problems + size - 1) / size);
  for (int32_t i = 0; i < n; ++i) {
    internal::ShardRecord rec;
    rec.set_job_id(job_id);
    rec.set_round(round);
    rec.set_kind(kind);
    rec.set_shard(i);
    rec.set_first_problem(i * size);
    rec.set_num_problems(static_cast<int32_t>(std::min<int64_t>(size, problems - static_cast<int64_t>(i) * size)));
    rec.set_state(internal::SHARD_STATE_QUEUED);
    Add(std::move(rec));
  }
}

void LeaseTable::Restore(internal::ShardRecord rec, int64_t expiry_ms) {
  Shard s;
  s.rec = std::move(rec);
  if (s.rec.state() == internal::SHARD_STATE_LEASED) s.expiry_ms = expiry_ms;
  Shard& slot = shards_[s.id()] = std::move(s);
  Index(slot, +1);
}

Shard* LeaseTable::Find(const ShardId& id) {
  auto it = shards_.find(id);
  return it == shards_.end() ? nullptr : &it->second;
}

const Shard* LeaseTable::Find(const ShardId& id) const {
  auto it = shards_.find(id);
  return it == shards_.end() ? nullptr : &it->second;
}

Shard* LeaseTable::NextQueued(int32_t round, v1::LeaseKind kind) {
  auto q = queued_.lower_bound({round, kind, 0});
  if (q == queued_.end() || std::get<0>(*q) != round || std::get<1>(*q) != kind) return nullptr;
  return &shards_.at(*q);
}

int64_t LeaseTable::Count(int32_t round, v1::LeaseKind kind, internal::ShardState state) const {
  auto it = counts_.find({round, kind, state});
  return it == counts_.end() ? 0 : it->second;
}

bool LeaseTable::AllDone(int32_t round, v1::LeaseKind kind) const {
  return Count(round, kind, internal::SHARD_STATE_DONE) > 0 && Count(round, kind, internal::SHARD_STATE_QUEUED) == 0 &&
         Count(round, kind, internal::SHARD_STATE_LEASED) == 0 && Count(round, kind, internal::SHARD_STATE_FAILED) == 0;
}

std::vector<ShardId> LeaseTable::Expired(int64_t now_ms) const {
  std::vector<ShardId> out;
  for (const ShardId& id : leased_) {
    const Shard& s = shards_.at(id);
    if (s.expiry_ms != 0 && s.expiry_ms <= now_ms) out.push_back(id);
  }
  return out;
}

void LeaseTable::Grant(Shard& s, const std::string& worker_id, int64_t now_ms, int64_t ttl_ms) {
  s.rec.set_epoch(s.rec.epoch() + 1);
  SetState(s, internal::SHARD_STATE_LEASED);
  s.rec.set_worker_id(worker_id);
  if (Lapses(s.rec.kind())) s.expiry_ms = now_ms + ttl_ms;
  persist_(s.rec);
}

void LeaseTable::Renew(Shard& s, int64_t now_ms, int64_t ttl_ms) {
  if (s.expiry_ms != 0) s.expiry_ms = now_ms + ttl_ms;
}

void LeaseTable::Complete(Shard& s) {
  SetState(s, internal::SHARD_STATE_DONE);
  s.expiry_ms = 0;
  persist_(s.rec);
}

bool LeaseTable::Return(Shard& s, const std::string& reason, bool graceful, int max_attempts) {
  if (s.rec.kind() == v1::LEASE_KIND_TRAIN) {
    s.rec.clear_group();
    s.rec.clear_ranks_done();
  }
  SetState(s, internal::SHARD_STATE_QUEUED);
  s.expiry_ms = 0;
  if (!graceful) {
    s.rec.set_attempts(s.rec.attempts() + 1);
    s.rec.add_failures(reason.substr(0, 2000));
    while (s.rec.failures_size() > kMaxFailuresKept) s.rec.mutable_failures()->erase(s.rec.mutable_failures()->begin());
  }
  const bool failed = !graceful && s.rec.attempts() >= max_attempts;
  if (failed) SetState(s, internal::SHARD_STATE_FAILED);
  persist_(s.rec);
  return !failed;
}

void LeaseTable::Save(const Shard& s) { persist_(s.rec); }

absl::StatusOr<Shard*> LeaseTable::Check(const v1::LeaseRef& lease, const std::string& worker_id) {
  Shard* s = Find({lease.round(), lease.kind(), lease.shard()});
  if (s == nullptr) return absl::NotFoundError(absl::StrCat("no such lease: ", Describe(lease)));
  if (s->rec.epoch() != lease.epoch()) {
    return absl::FailedPreconditionError(absl::StrCat("stale ", Describe(lease), ": the work is at epoch ",
                                                      s->rec.epoch(),
                                                      " (the lease lapsed and was handed out again); drop this work"));
  }
  if (s->rec.state() != internal::SHARD_STATE_LEASED) {
    return absl::FailedPreconditionError(absl::StrCat(Describe(lease), " is no longer held (the work is ",
                                                      internal::ShardState_Name(s->rec.state()), ")"));
  }
  if (!HeldBy(s->rec, worker_id)) {
    return absl::PermissionDeniedError(
        absl::StrCat(Describe(lease), " belongs to ", Holder(s->rec), ", not to ", worker_id));
  }
  return s;
}

bool LeaseTable::HeldBy(const internal::ShardRecord& rec, const std::string& worker_id) {
  if (rec.kind() == v1::LEASE_KIND_TRAIN) {
    return std::find(rec.group().begin(), rec.group().end(), worker_id) != rec.group().end();
  }
  return rec.worker_id() == worker_id;
}

std::string LeaseTable::Holder(const internal::ShardRecord& rec) {
  return rec.kind() == v1::LEASE_KIND_TRAIN ? absl::StrJoin(rec.group(), ",") : rec.worker_id();
}

v1::LeaseRef LeaseTable::RefOf(const internal::ShardRecord& rec) {
  v1::LeaseRef r;
  r.set_job_id(rec.job_id());
  r.set_round(rec.round());
  r.set_kind(rec.kind());
  r.set_shard(rec.shard());
  r.set_epoch(rec.epoch());
  return r;
}

std::string LeaseTable::Describe(const v1::LeaseRef& l) {
  return absl::StrCat(LeaseKindName(l.kind()), " lease of job ", l.job_id(), " round ", l.round(),
                      Lapses(l.kind()) ? absl::StrCat(" shard ", l.shard()) : "", " (epoch ", l.epoch(), ")");
}

}  // namespace ssd
