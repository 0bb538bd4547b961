#include "common/model/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace ssd {
namespace {

// The API took the device type in libtorch 2.4.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool CudaOn() { return at::autocast::is_autocast_enabled(at::kCUDA); }
bool CpuOn() { return at::autocast::is_autocast_enabled(at::kCPU); }
void SetCuda(bool on) {
  if (on) at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, on);
}
void SetCpu(bool on) {
  if (on) at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCPU, on);
}
#else
bool CudaOn() { return at::autocast::is_enabled(); }
bool CpuOn() { return at::autocast::is_cpu_enabled(); }
void SetCuda(bool on) {
  if (on) at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  at::autocast::set_enabled(on);
}
void SetCpu(bool on) {
  if (on) at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::set_cpu_enabled(on);
}
#endif

}  // namespace

Autocast CurrentAutocast() {
  if (CudaOn()) return Autocast::kCuda;
  return CpuOn() ? Autocast::kCpu : Autocast::kOff;
}

AutocastScope::AutocastScope(Autocast setting)
    : cuda_before_(CudaOn()), cpu_before_(CpuOn()), cuda_(setting == Autocast::kCuda), cpu_(setting == Autocast::kCpu) {
  if (cuda_ != cuda_before_) SetCuda(cuda_);
  if (cpu_ != cpu_before_) SetCpu(cpu_);
}

AutocastScope::~AutocastScope() {
  if (cuda_ != cuda_before_) SetCuda(cuda_before_);
  if (cpu_ != cpu_before_) SetCpu(cpu_before_);
  if ((cuda_ && !cuda_before_) || (cpu_ && !cpu_before_)) at::autocast::clear_cache();
}

}  // namespace ssd
