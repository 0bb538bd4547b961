// The CPU-only build: no NCCL code path.
#include "trainer_worker/nccl_collective.h"

namespace ssd {

bool NcclCompiledIn() { return false; }

absl::StatusOr<std::unique_ptr<Collective>> ConnectNccl(const NcclOptions&) {
  return absl::UnimplementedError(
      "this ssd was built without CUDA/NCCL; configure with -DSSD_WITH_NCCL=ON and a CUDA libtorch");
}

}  // namespace ssd
