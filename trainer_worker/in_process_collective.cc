#include "trainer_worker/in_process_collective.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <glog/logging.h>

namespace ssd {
namespace {

void SumInRankOrder(const std::vector<const std::vector<at::Tensor>*>& slots, int) {
  const size_t n = slots[0]->size();
  for (size_t i = 0; i < n; ++i) {
    at::Tensor sum = (*slots[0])[i].clone();
    for (size_t r = 1; r < slots.size(); ++r) sum.add_((*slots[r])[i]);
    for (const auto* s : slots) (*s)[i].copy_(sum);
  }
}

void CopyFromRoot(const std::vector<const std::vector<at::Tensor>*>& slots, int root) {
  for (size_t r = 0; r < slots.size(); ++r) {
    if (static_cast<int>(r) != root) (*slots[r])[0].copy_((*slots[static_cast<size_t>(root)])[0]);
  }
}

// Each slot is {shard, full}.
void GatherChunks(const std::vector<const std::vector<at::Tensor>*>& slots, int) {
  const int world = static_cast<int>(slots.size());
  for (int src = 0; src < world; ++src) {
    for (const auto* dst : slots) ChunkOf((*dst)[1], src, world).copy_((*slots[src])[0].view(-1));
  }
}

// Each slot is {full, shard}. Rank r's shard gets chunk r summed in rank order.
void SumChunks(const std::vector<const std::vector<at::Tensor>*>& slots, int) {
  const int world = static_cast<int>(slots.size());
  for (int r = 0; r < world; ++r) {
    at::Tensor sum = ChunkOf((*slots[0])[0], r, world).clone();
    for (int src = 1; src < world; ++src) sum.add_(ChunkOf((*slots[src])[0], r, world));
    (*slots[r])[1].view(-1).copy_(sum);
  }
}

void Nothing(const std::vector<const std::vector<at::Tensor>*>&, int) {}

}  // namespace

InProcessGroup::InProcessGroup(int world_size) : world_size_(world_size), slots_(static_cast<size_t>(world_size)) {
  CHECK_GE(world_size, 1);
}

void InProcessGroup::Rendezvous(int rank, const std::vector<at::Tensor>* tensors,
                                void (*fn)(const std::vector<const std::vector<at::Tensor>*>&, int), int arg) {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t gen = generation_;
  slots_[static_cast<size_t>(rank)] = tensors;
  if (++arrived_ == world_size_) {
    fn(slots_, arg);
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
    return;
  }
  cv_.wait(lock, [&] { return generation_ != gen; });
}

absl::Status InProcessCollective::AllReduceSum(const std::vector<at::Tensor>& tensors) {
  group_->Rendezvous(rank_, &tensors, &SumInRankOrder, 0);
  return absl::OkStatus();
}

absl::Status InProcessCollective::Broadcast(const at::Tensor& tensor, int root) {
  std::vector<at::Tensor> one{tensor};
  group_->Rendezvous(rank_, &one, &CopyFromRoot, root);
  return absl::OkStatus();
}

absl::Status InProcessCollective::AllGather(const at::Tensor& shard, const at::Tensor& full) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> mine{shard, full};
  group_->Rendezvous(rank_, &mine, &GatherChunks, 0);
  return absl::OkStatus();
}

absl::Status InProcessCollective::ReduceScatterSum(const at::Tensor& full, const at::Tensor& shard) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> mine{full, shard};
  group_->Rendezvous(rank_, &mine, &SumChunks, 0);
  return absl::OkStatus();
}

absl::Status InProcessCollective::Barrier() {
  std::vector<at::Tensor> none;
  group_->Rendezvous(rank_, &none, &Nothing, 0);
  return absl::OkStatus();
}

}  // namespace ssd
