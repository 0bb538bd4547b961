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
};

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
};

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_COLLECTIVE_H_
