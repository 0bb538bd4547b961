#include "trainer_worker/collective.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <glog/logging.h>

namespace ssd {

std::vector<std::vector<at::Tensor>> GroupIntoBuckets(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  std::vector<std::vector<at::Tensor>> out;
  int64_t bytes = 0;
  for (const at::Tensor& t : tensors) {
    const int64_t n = t.numel() * static_cast<int64_t>(t.element_size());
    if (out.empty() || bytes + n > bucket_bytes) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += n;
  }
  return out;
}

at::Tensor ChunkOf(const at::Tensor& full, int rank, int world_size) {
  CHECK_EQ(full.numel() % world_size, 0) << "a sharded buffer of " << full.numel() << " elements over " << world_size
                                         << " ranks";
  const int64_t n = full.numel() / world_size;
  return full.view(-1).narrow(0, rank * n, n);
}

absl::Status Collective::AllGatherInPlace(const at::Tensor& full) {
  at::NoGradGuard no_grad;
  return AllGather(ChunkOf(full, rank(), world_size()).clone(), full);
}

absl::Status Collective::ReduceScatterSumInPlace(const at::Tensor& full) {
  at::NoGradGuard no_grad;
  at::Tensor mine = ChunkOf(full, rank(), world_size());
  at::Tensor out = at::empty_like(mine);
  if (absl::Status s = ReduceScatterSum(full, out); !s.ok()) return s;
  mine.copy_(out);
  return absl::OkStatus();
}

absl::Status SingleProcessCollective::AllGather(const at::Tensor& shard, const at::Tensor& full) {
  at::NoGradGuard no_grad;
  full.view(-1).copy_(shard.view(-1));
  return absl::OkStatus();
}

absl::Status SingleProcessCollective::ReduceScatterSum(const at::Tensor& full, const at::Tensor& shard) {
  at::NoGradGuard no_grad;
  shard.view(-1).copy_(full.view(-1));
  return absl::OkStatus();
}

}  // namespace ssd
