// Scheduler: what to hand a worker that asks for work (AcquireWork).
//
// Samplers: sample and eval shards of the running jobs (SAMPLING or
// EVALUATING), one shard of each job in turn in submission order, so
// concurrent jobs share the samplers. A sampler holds at most
// max_leases_per_sampler leases (one to work on, one prefetched). A shard
// that needs weights the sampler lacks is skipped, and the sampler is told
// which version it wants and who holds it (Idle.wanted, Idle.holders) so it
// can fetch it from a peer.
//
// Trainers, in this order:
//   1. work already assigned to them, again (a reply may have been lost);
//   2. a training group for the job that entered TRAINING first: it forms
//      only when `train.trainers` trainers are idle at once (a partial group
//      is never held), ranks ordered by the workers' rank hints, rank 0
//      hosting the rendezvous. A later job does not take trainers the first
//      one waits for;
//   3. a weight push: a member of the round's training group pushes (any
//      trainer when none is alive), along a chain of every live sampler.
//
// The Scheduler reads and changes the Coordinator's state and is guarded
// by its mutex, like everything it is given.
#ifndef SSD_COORDINATOR_SCHEDULER_H_
#define SSD_COORDINATOR_SCHEDULER_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "coordinator/coordinator_options.h"
#include "coordinator/job_entry.h"
#include "coordinator/sample_store.h"
#include "coordinator/worker_registry.h"
#include "ssd/v1/worker_service.pb.h"

namespace ssd {

class Scheduler {
 public:
  // What the scheduler works over; none of it is owned.
  struct Parts {
    std::map<std::string, JobEntry>* jobs = nullptr;
    const std::vector<std::string>* job_order = nullptr;  // submission order
    WorkerRegistry* workers = nullptr;
    SampleStore* samples = nullptr;
    // Grants shard `s` of job `e` to `w`: the lease, the worker's record of
    // it, metrics and watchers (the Coordinator's).
    std::function<void(JobEntry& e, Shard& s, WorkerEntry& w)> grant;
  };
  Scheduler(const CoordinatorOptions& options, Parts parts);

  // A sample or eval shard, or Idle with the reason. For eval shards the
  // problems' benchmark lines are left out (they can be large): their store
  // keys are appended to `eval_keys`, in task order, for the caller to read
  // outside the lock.
  v1::AcquireWorkResponse ForSampler(WorkerEntry& w, std::vector<std::string>* eval_keys);
  // A training assignment, a push, or Idle with the reason.
  v1::AcquireWorkResponse ForTrainer(WorkerEntry& w);

  // What rank `rank` of training group `s` is told.
  v1::TrainingAssignment TrainingFor(const JobEntry& e, const Shard& s, int rank) const;
  v1::PushAssignment PushFor(const JobEntry& e, const Shard& s) const;

 private:
  // Forms the group of `e`'s queued training shard from idle trainers, if
  // there are enough; `asking` is in it unless lower rank hints filled it.
  // Returns false (with the reason in `idle`) when the job must wait.
  bool FormTrainingGroup(JobEntry& e, Shard& s, WorkerEntry& asking, v1::Idle* idle);

  const CoordinatorOptions options_;
  const Parts parts_;
  size_t sampler_cursor_ = 0;  // rotation over the running jobs
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_SCHEDULER_H_
