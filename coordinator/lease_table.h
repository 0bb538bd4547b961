// LeaseTable: the leasable work of one job and its leases. A shard is a
// range of problems of a round (sample and eval shards), a training group
// (kind TRAIN, shard 0) or a weight push (PUSH, shard 0). Every change of a
// shard's durable state is handed to the `persist` callback, which the
// Coordinator turns into a write in its commit log.
//
// Lease lifecycle of one shard:
//
//   QUEUED ──Grant (epoch+1)──► LEASED ──Complete──► DONE
//     ▲                           │
//     └────────── Return ─────────┘  unless graceful, attempts+1 and the reason
//                                     kept; at max_shard_attempts the shard
//                                     is FAILED (and the Coordinator fails
//                                     its job)
//
// The epoch is a fencing token: anything sent under an older epoch is
// refused, because a lease is not a lock (a paused worker can wake up after
// its lease went to someone else). Sample and eval leases lapse at their
// expiry unless a heartbeat renews them; training and push leases end with
// their worker.
//
// Not thread-safe: the Coordinator calls it under its mutex.
#ifndef SSD_COORDINATOR_LEASE_TABLE_H_
#define SSD_COORDINATOR_LEASE_TABLE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/records.pb.h"
#include "ssd/v1/worker_service.pb.h"

namespace ssd {

// (round, LeaseKind, shard): a shard's place in its job, and its order.
using ShardId = std::tuple<int32_t, int32_t, int32_t>;

struct Shard {
  internal::ShardRecord rec;
  int64_t expiry_ms = 0;  // a LEASED sample or eval shard's; 0 otherwise

  ShardId id() const { return {rec.round(), rec.kind(), rec.shard()}; }
};

class LeaseTable {
 public:
  using Persist = std::function<void(const internal::ShardRecord&)>;
  explicit LeaseTable(Persist persist);

  // A new queued shard, written.
  Shard& Add(internal::ShardRecord rec);
  // Queued shards of `size` consecutive problems each over `problems`
  // problems, numbered from 0, written.
  void AddRange(const std::string& job_id, int32_t round, v1::LeaseKind kind, int64_t problems, int32_t size);
  // A shard read back from the store, not written again. A LEASED one
  // lapses at `expiry_ms` unless renewed.
  void Restore(internal::ShardRecord rec, int64_t expiry_ms);

  Shard* Find(const ShardId& id);
  const Shard* Find(const ShardId& id) const;
  // The first QUEUED shard of (round, kind), or null.
  Shard* NextQueued(int32_t round, v1::LeaseKind kind);
  int64_t Count(int32_t round, v1::LeaseKind kind, internal::ShardState state) const;
  // Whether (round, kind) has shards and every one is DONE.
  bool AllDone(int32_t round, v1::LeaseKind kind) const;
  const std::map<ShardId, Shard>& shards() const { return shards_; }
  // Shards per (round, kind, state), for progress and metrics.
  const std::map<ShardId, int64_t>& counts() const { return counts_; }
  // The LEASED shards whose lease lapsed before `now_ms`.
  std::vector<ShardId> Expired(int64_t now_ms) const;

  // QUEUED -> LEASED to `worker_id` at the next epoch. A sample or eval
  // lease lapses at now_ms + ttl_ms unless renewed. Written.
  void Grant(Shard& s, const std::string& worker_id, int64_t now_ms, int64_t ttl_ms);
  // Pushes back a lapsing lease's expiry (not written: a restart gives every
  // lease the recovery grace anyway).
  void Renew(Shard& s, int64_t now_ms, int64_t ttl_ms);
  // LEASED -> DONE, written.
  void Complete(Shard& s);
  // LEASED -> QUEUED. A training group is dissolved. Unless `graceful`, the
  // attempt counts and `reason` is kept (the last 10 reasons); when that was
  // the last of `max_attempts`, the shard is FAILED instead and this returns
  // false. Written.
  bool Return(Shard& s, const std::string& reason, bool graceful, int max_attempts);
  // Writes a shard whose record the caller changed in place (a training
  // group, a push chain, the ranks done).
  void Save(const Shard& s);

  // The shard a worker's lease names: NOT_FOUND for no such shard,
  // FAILED_PRECONDITION for a stale epoch or finished work,
  // PERMISSION_DENIED for another worker's lease.
  absl::StatusOr<Shard*> Check(const v1::LeaseRef& lease, const std::string& worker_id);

  // Whether `worker_id` holds the lease (a member of a training group, or
  // the holder of any other lease).
  static bool HeldBy(const internal::ShardRecord& rec, const std::string& worker_id);
  // Who holds it: the worker, or the training group joined by commas.
  static std::string Holder(const internal::ShardRecord& rec);
  static v1::LeaseRef RefOf(const internal::ShardRecord& rec);
  // "SAMPLE lease of job job-000001 round 1 shard 3 (epoch 2)".
  static std::string Describe(const v1::LeaseRef& lease);

 private:
  void Index(const Shard& s, int delta);
  void SetState(Shard& s, internal::ShardState state);

  const Persist persist_;
  std::map<ShardId, Shard> shards_;
  // Indexes over shards_, so that no lease operation walks every shard of a
  // big job.
  std::set<ShardId> queued_;
  std::set<ShardId> leased_;
  std::map<ShardId, int64_t> counts_;  // (round, kind, state) -> shards
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_LEASE_TABLE_H_
