#include <cuda_runtime_api.h>
#include <nccl.h>

#include "absl/strings/str_cat.h"
#include "common/model/nccl_probe.h"

namespace ssd {

NcclProbe ProbeNccl() {
  NcclProbe p;
  p.compiled = true;
  int v = 0;
  if (ncclGetVersion(&v) == ncclSuccess) {
    // NCCL >= 2.9 encodes major*10000 + minor*100 + patch.
    p.nccl_version = absl::StrCat(v / 10000, ".", (v / 100) % 100, ".", v % 100);
  }
  cudaError_t err = cudaGetDeviceCount(&p.cuda_devices);
  if (err != cudaSuccess) {
    p.cuda_devices = 0;
    p.cuda_error = cudaGetErrorString(err);
  }
  return p;
}

}  // namespace ssd
