// What the CUDA/NCCL side of this build can see. Compiled from
// nccl_probe_cuda.cc when CMake enables CUDA (a CUDA-enabled Torch or
// -DSSD_WITH_NCCL=ON), from nccl_probe_none.cc otherwise, so CPU builds never
// need the toolkit.
#ifndef SSD_COMMON_MODEL_NCCL_PROBE_H_
#define SSD_COMMON_MODEL_NCCL_PROBE_H_

#include <string>

namespace ssd {

struct NcclProbe {
  bool compiled = false;     // the build has the CUDA/NCCL code paths
  std::string nccl_version;  // e.g. "2.27.3", empty when not compiled
  int cuda_devices = 0;      // visible devices (0 when none or no driver)
  std::string cuda_error;    // why devices could not be counted, if so
};

NcclProbe ProbeNccl();

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_NCCL_PROBE_H_
