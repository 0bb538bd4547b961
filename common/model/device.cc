#include "common/model/device.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/model/cpu_rows.h"
#include "common/model/nccl_probe.h"
#include "common/util/cpu_features.h"

namespace ssd {

absl::StatusOr<DecoderOptions> ResolveDevice(const std::string& device, const std::string& dtype) {
  if (dtype != "auto" && dtype != "fp32" && dtype != "bf16") {
    return absl::InvalidArgumentError(absl::StrCat("--dtype ", dtype, ": expected auto, fp32 or bf16"));
  }
  DecoderOptions options;
  if (device == "cpu") {
    options.cpu_bf16_weights = dtype == "bf16";
    return options;
  }
  if (device == "cuda" || absl::StartsWith(device, "cuda:")) {
    if (!at::hasCUDA()) {
      return absl::FailedPreconditionError(
          absl::StrCat("--device ", device,
                       ": this build's libtorch has no CUDA support (Debian's libtorch is "
                       "CPU-only; build against a CUDA libtorch, e.g. from a PyTorch wheel's torch/share/cmake)"));
    }
    int index = 0;
    if (device.size() > 5 && !absl::SimpleAtoi(device.substr(5), &index)) {
      return absl::InvalidArgumentError(absl::StrCat("--device ", device, ": bad device index"));
    }
    options.device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
    options.dtype = dtype == "fp32" ? at::kFloat : at::kBFloat16;
    return options;
  }
  return absl::InvalidArgumentError(absl::StrCat("--device ", device, ": expected cpu, cuda or cuda:N"));
}

std::string DescribeComputeEnvironment() {
  NcclProbe nccl = ProbeNccl();
  std::string out;
  absl::StrAppend(&out, "libtorch:      ", TORCH_VERSION, " (CUDA ", at::hasCUDA() ? "yes" : "no", ")\n");
  absl::StrAppend(&out, "threads:       ", at::get_num_threads(), " intra-op\n");
  absl::StrAppend(&out, "cpu kernels:   AVX2+FMA ", CpuHasAvx2Fma() ? "yes" : "no (portable loops)", ", AVX-512 tiles ",
                  cpu::HaveAvx512() ? "yes" : "no", "\n");
  absl::StrAppend(&out, "nccl:          ",
                  nccl.compiled ? absl::StrCat("compiled, version ", nccl.nccl_version) : "not compiled", "\n");
  absl::StrAppend(&out, "cuda devices:  ", nccl.cuda_devices,
                  nccl.cuda_error.empty() ? "" : absl::StrCat(" (", nccl.cuda_error, ")"), "\n");
  absl::StrAppend(&out, "parallel info:\n", at::get_parallel_info());
  return out;
}

}  // namespace ssd
