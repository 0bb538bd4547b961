// CUDA autocast (bf16 compute over fp32 master weights) as a scope.
//
// Autocast is thread-local, and autograd runs a backward on its own threads
// (one per device), where the forward thread's setting is absent. Code that
// recomputes a forward during backward (activation checkpointing, the
// chunked loss) reads CudaAutocastEnabled() in forward and opens a scope
// with it in backward, so the recompute runs in the forward's precision.
#ifndef SSD_COMMON_MODEL_AUTOCAST_H_
#define SSD_COMMON_MODEL_AUTOCAST_H_

namespace ssd {

// Whether CUDA autocast is on in this thread.
bool CudaAutocastEnabled();

// Sets CUDA autocast to `enabled` (bf16) in this thread until destroyed,
// then restores what was there. Leaving a scope that turned autocast on
// drops the thread's cache of cast weights, as torch.autocast does.
class CudaAutocastScope {
 public:
  explicit CudaAutocastScope(bool enabled);
  ~CudaAutocastScope();
  CudaAutocastScope(const CudaAutocastScope&) = delete;
  CudaAutocastScope& operator=(const CudaAutocastScope&) = delete;

 private:
  const bool previous_;
  const bool enabled_;
};

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_AUTOCAST_H_
