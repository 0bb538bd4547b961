// GlooCollective: data-parallel collectives over TCP with c10d's
// ProcessGroupGloo (CPU tensors), rendezvousing through a c10d TCPStore.
//
// Rendezvous (rendezvous.h): through the group's TCPStore; Gloo then opens
// its own pairwise connections, bound to `interface_host`.
//
// Gloo's headers are not in a PyPI wheel's libtorch, so a build against one
// compiles gloo_collective_none.cc instead, whose Connect says so: such
// builds train data-parallel on GPUs over NCCL only.
//
// AllReduceSum flattens the tensors into buckets of at most bucket_bytes,
// all-reduces the buckets (issued together, awaited in order) and copies the
// sums back. Gloo's reduction delivers the same bits to every rank.
#ifndef SSD_TRAINER_WORKER_GLOO_COLLECTIVE_H_
#define SSD_TRAINER_WORKER_GLOO_COLLECTIVE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "trainer_worker/collective.h"
#include "trainer_worker/rendezvous.h"

namespace ssd {

struct GlooOptions {
  RendezvousOptions rendezvous;
  int64_t bucket_bytes = int64_t{25} << 20;
};

class GlooCollective : public Collective {
 public:
  // Blocks until all world_size ranks have joined (or the timeout passes).
  static absl::StatusOr<std::unique_ptr<GlooCollective>> Connect(const GlooOptions& options);
  ~GlooCollective() override;

  int rank() const override;
  int world_size() const override;
  absl::Status AllReduceSum(const std::vector<at::Tensor>& tensors) override;
  absl::Status Broadcast(const at::Tensor& tensor, int root) override;
  absl::Status Barrier() override;
  absl::Status AllGather(const at::Tensor& shard, const at::Tensor& full) override;
  // Debian's Gloo backend (libtorch 1.13) has no reduce-scatter: this is a
  // ring of point-to-point sends, (d-1)/d of `full` out and in per rank, as
  // a ring reduce-scatter moves.
  absl::Status ReduceScatterSum(const at::Tensor& full, const at::Tensor& shard) override;
  absl::Status ReduceScatterSumInPlace(const at::Tensor& full) override;

 private:
  struct Impl;
  explicit GlooCollective(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_GLOO_COLLECTIVE_H_
