#include "common/model/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace ssd {
namespace {

// The API took the device type in libtorch 2.4.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool Enabled() { return at::autocast::is_autocast_enabled(at::kCUDA); }
void Set(bool on) {
  if (on) at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, on);
}
#else
bool Enabled() { return at::autocast::is_enabled(); }
void Set(bool on) {
  if (on) at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  at::autocast::set_enabled(on);
}
#endif

}  // namespace

bool CudaAutocastEnabled() { return Enabled(); }

CudaAutocastScope::CudaAutocastScope(bool enabled) : previous_(Enabled()), enabled_(enabled) {
  if (enabled_ != previous_) Set(enabled_);
}

CudaAutocastScope::~CudaAutocastScope() {
  if (enabled_ == previous_) return;
  Set(previous_);
  if (enabled_) at::autocast::clear_cache();
}

}  // namespace ssd
