// InProcessCollective: a Collective whose ranks are threads of one process,
// for unit tests that exercise data parallelism without sockets or a GPU.
//
//   auto group = std::make_shared<InProcessGroup>(2);
//   InProcessCollective r0(group, 0), r1(group, 1);   // one per thread
//
// AllReduceSum and ReduceScatterSum add the ranks' tensors in rank order
// (0 + 1 + ...), so the result is deterministic and identical on every rank. Each collective call
// is a rendezvous of all ranks; a rank that never arrives blocks the others
// (tests bound that with their own timeout).
#ifndef SSD_TRAINER_WORKER_IN_PROCESS_COLLECTIVE_H_
#define SSD_TRAINER_WORKER_IN_PROCESS_COLLECTIVE_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "trainer_worker/collective.h"

namespace ssd {

// State shared by the ranks of one group.
class InProcessGroup {
 public:
  explicit InProcessGroup(int world_size);
  int world_size() const { return world_size_; }

  // Rank `rank` publishes `tensors`; when all ranks have, `fn` runs once
  // (on the last arriver) over every rank's tensors, then all return.
  void Rendezvous(int rank, const std::vector<at::Tensor>* tensors,
                  void (*fn)(const std::vector<const std::vector<at::Tensor>*>&, int), int arg);

 private:
  const int world_size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<const std::vector<at::Tensor>*> slots_;  // guarded by mu_
  int arrived_ = 0;                                    // guarded by mu_
  int64_t generation_ = 0;                             // guarded by mu_
};

class InProcessCollective : public Collective {
 public:
  InProcessCollective(std::shared_ptr<InProcessGroup> group, int rank) : group_(std::move(group)), rank_(rank) {}

  int rank() const override { return rank_; }
  int world_size() const override { return group_->world_size(); }
  absl::Status AllReduceSum(const std::vector<at::Tensor>& tensors) override;
  absl::Status Broadcast(const at::Tensor& tensor, int root) override;
  absl::Status Barrier() override;
  absl::Status AllGather(const at::Tensor& shard, const at::Tensor& full) override;
  absl::Status ReduceScatterSum(const at::Tensor& full, const at::Tensor& shard) override;

 private:
  std::shared_ptr<InProcessGroup> group_;
  const int rank_;
};

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_IN_PROCESS_COLLECTIVE_H_
