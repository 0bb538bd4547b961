#include "tests/testing/tensor_bytes.h"

#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>

#include <algorithm>
#include <atomic>

namespace ssd {

struct TensorBytesTracker::State : c10::MemoryReportingInfoBase {
  std::atomic<int64_t> current{0}, peak{0};

  void reportMemoryUsage(void*, int64_t, int64_t total_allocated, int64_t, c10::Device device) override {
    if (device.type() != c10::DeviceType::CPU) return;
    current.store(total_allocated);
    int64_t p = peak.load();
    while (total_allocated > p && !peak.compare_exchange_weak(p, total_allocated)) {
    }
  }
  bool memoryProfilingEnabled() const override { return true; }
};

struct TensorBytesTracker::Guard {
  explicit Guard(std::shared_ptr<c10::DebugInfoBase> info)
      : guard(c10::DebugInfoKind::PROFILER_STATE, std::move(info)) {}
  c10::DebugInfoGuard guard;
};

TensorBytesTracker::TensorBytesTracker() : state_(std::make_shared<State>()) {
  guard_ = std::make_unique<Guard>(state_);
}

TensorBytesTracker::~TensorBytesTracker() = default;

int64_t TensorBytesTracker::current() const { return state_->current.load(); }
int64_t TensorBytesTracker::peak() const { return state_->peak.load(); }
void TensorBytesTracker::ResetPeak() { state_->peak.store(state_->current.load()); }

}  // namespace ssd
