// Choosing where the decoder runs, and describing the compute environment.
#ifndef SSD_COMMON_MODEL_DEVICE_H_
#define SSD_COMMON_MODEL_DEVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/model/decoder.h"

namespace ssd {

// "cpu" -> fp32 on CPU; "cuda" or "cuda:N" -> bf16 on that GPU. Fails with a
// clear message when this libtorch has no CUDA or the device does not exist.
// `dtype` ("auto", "fp32" or "bf16", from --dtype) overrides the default:
// bf16 on CPU keeps the weight matrices in bf16 and computes in fp32
// (DecoderOptions::cpu_bf16_weights); fp32 on CUDA runs the GPU in fp32.
absl::StatusOr<DecoderOptions> ResolveDevice(const std::string& device, const std::string& dtype = "auto");

// Multi-line report: libtorch version and parallel backend, BLAS, intra-op
// threads, CPU vector extensions the kernels use, CUDA/NCCL availability.
std::string DescribeComputeEnvironment();

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_DEVICE_H_
