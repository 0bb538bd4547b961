// Autocast (bf16 compute over wider weights) as a scope: on CUDA over the
// trainer's fp32 master weights, and on CPU for sharded training that
// gathers its parameters in bf16 (trainer_worker/sharded_model.h).
//
// Autocast is thread-local, and autograd runs a backward on its own threads
// (one per device), where the forward thread's setting is absent. Code that
// recomputes a forward during backward (activation checkpointing, sharded
// layers, the chunked loss) reads CurrentAutocast() in forward and opens a
// scope with it in backward, so the recompute runs in the forward's
// precision.
#ifndef SSD_COMMON_MODEL_AUTOCAST_H_
#define SSD_COMMON_MODEL_AUTOCAST_H_

namespace ssd {

enum class Autocast {
  kOff,
  kCuda,  // CUDA ops autocast to bf16
  kCpu,   // CPU ops autocast to bf16
};

// This thread's setting (kCuda when both are on).
Autocast CurrentAutocast();

// Sets this thread's autocast to `setting` until destroyed, then restores
// what was there. Leaving a scope that turned autocast on drops the
// thread's cache of cast weights, as torch.autocast does.
class AutocastScope {
 public:
  explicit AutocastScope(Autocast setting);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  const bool cuda_before_, cpu_before_;
  const bool cuda_, cpu_;
};

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_AUTOCAST_H_
