#include "common/model/nccl_probe.h"

namespace ssd {

NcclProbe ProbeNccl() {
  NcclProbe p;
  p.cuda_error = "not compiled in (configure with -DSSD_WITH_NCCL=ON or a CUDA-enabled Torch)";
  return p;
}

}  // namespace ssd
