// Collective: the data-parallel communication a trainer rank needs, behind
// an interface so the training loop never names Gloo or NCCL.
//
// Implementations:
//   InProcessCollective (in_process_collective.h)  threads of one process; tests
//   GlooCollective      (gloo_collective.h)        c10d ProcessGroupGloo over TCPStore; CPU
//   NcclCollective      (nccl_collective.h)        NCCL on a dedicated CUDA stream; GPU builds
//
// Contract: every rank calls the same operations in the same order with
// tensors of the same shapes and dtypes (SPMD). Calls block until the
// result is in place. Errors (a peer died, a timeout) come back as a Status
// naming the operation and rank; after an error the collective is unusable.
// Not thread-safe: one caller per rank.
#ifndef SSD_TRAINER_WORKER_COLLECTIVE_H_
#define SSD_TRAINER_WORKER_COLLECTIVE_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace ssd {

class Collective {
 public:
  virtual ~Collective() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // Sums each tensor elementwise over the ranks, in place. Tensors must be
  // contiguous and of one dtype and device; implementations may flatten them
  // into buckets. Every rank ends with bitwise identical results.
  virtual absl::Status AllReduceSum(const std::vector<at::Tensor>& tensors) = 0;
  // Copies `tensor` of rank `root` into every rank's `tensor`.
  virtual absl::Status Broadcast(const at::Tensor& tensor, int root) = 0;
  virtual absl::Status Barrier() = 0;

  // Sharded data parallel (sharded_model.h). For both, `full` is contiguous
  // with numel = world_size() * n, and chunk r is its flat elements
  // [r * n, (r + 1) * n); `shard` is contiguous with numel n, of full's
  // dtype and device.
  //
  // Every rank's `shard` lands in chunk r of every rank's `full`.
  virtual absl::Status AllGather(const at::Tensor& shard, const at::Tensor& full) = 0;
  // The same with this rank's shard already in its chunk of `full`.
  virtual absl::Status AllGatherInPlace(const at::Tensor& full);
  // Sums `full` over the ranks and writes chunk rank() of the sum into
  // `shard`. `full` may be overwritten (its contents are unspecified after).
  virtual absl::Status ReduceScatterSum(const at::Tensor& full, const at::Tensor& shard) = 0;
  // The same, leaving the sum of chunk rank() in place in `full`.
  virtual absl::Status ReduceScatterSumInPlace(const at::Tensor& full);
};

// Chunk `rank` of `full` (see Collective::AllGather), a view.
at::Tensor ChunkOf(const at::Tensor& full, int rank, int world_size);

// Groups consecutive tensors into buckets of at most `bucket_bytes` each (a
// larger tensor gets a bucket of its own), for flattened all-reduces.
std::vector<std::vector<at::Tensor>> GroupIntoBuckets(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes);

// The trivial group of one rank: every operation is a no-op.
class SingleProcessCollective : public Collective {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  absl::Status AllReduceSum(const std::vector<at::Tensor>&) override { return absl::OkStatus(); }
  absl::Status Broadcast(const at::Tensor&, int) override { return absl::OkStatus(); }
  absl::Status Barrier() override { return absl::OkStatus(); }
  absl::Status AllGather(const at::Tensor& shard, const at::Tensor& full) override;
  absl::Status ReduceScatterSum(const at::Tensor& full, const at::Tensor& shard) override;
  absl::Status AllGatherInPlace(const at::Tensor&) override { return absl::OkStatus(); }
  absl::Status ReduceScatterSumInPlace(const at::Tensor&) override { return absl::OkStatus(); }
};

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_COLLECTIVE_H_
