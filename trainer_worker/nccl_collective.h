// NcclCollective: data-parallel collectives for CUDA tensors with NCCL.
//
// Rendezvous: rank 0 creates the NCCL unique id and publishes it through the
// same c10d TCPStore the Gloo path uses (RendezvousOptions); the others read
// it, then every rank calls ncclCommInitRank on its device.
//
// AllReduceSum flattens the gradients into buckets of at most bucket_bytes
// on the compute stream, then all-reduces the buckets on a dedicated
// communication stream (ordered after the compute stream with an event) and
// makes the compute stream wait for the result before copying it back. The
// host never blocks. The compute stream is the legacy default stream, which
// libtorch uses unless told otherwise.
//
// Built only when CMake enables CUDA (-DSSD_WITH_NCCL=ON or a CUDA libtorch);
// elsewhere ConnectNccl returns Unimplemented.
#ifndef SSD_TRAINER_WORKER_NCCL_COLLECTIVE_H_
#define SSD_TRAINER_WORKER_NCCL_COLLECTIVE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "trainer_worker/collective.h"
#include "trainer_worker/rendezvous.h"

namespace ssd {

struct NcclOptions {
  RendezvousOptions rendezvous;
  int device = 0;  // CUDA device of this rank
  int64_t bucket_bytes = int64_t{25} << 20;
};

// True when this build has the NCCL code path.
bool NcclCompiledIn();

absl::StatusOr<std::unique_ptr<Collective>> ConnectNccl(const NcclOptions& options);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_NCCL_COLLECTIVE_H_
