// Choosing where the decoder runs, and describing the compute environment.
#ifndef SSD_COMMON_MODEL_DEVICE_H_
#define SSD_COMMON_MODEL_DEVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/model/decoder.h"

namespace ssd {

// "cpu" -> fp32 on CPU; "cuda" or "cuda:N" -> bf16 on that GPU. Fails with a
// clear message when this libtorch has no CUDA or the device does not exist.
absl::StatusOr<DecoderOptions> ResolveDevice(const std::string& device);

// Multi-line report: libtorch version and parallel backend, BLAS, intra-op
// threads, CPU vector extensions the kernels use, CUDA/NCCL availability.
std::string DescribeComputeEnvironment();

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_DEVICE_H_
