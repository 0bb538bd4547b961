// KVCache: per-layer key/value memory for a fixed number of sequence slots,
// each at its own length.
//
// Layout per layer: k_BKSD / v_BKSD of shape [slots, kv_heads, capacity,
// head_dim]. Slot b holds positions [0, length(b)). Capacity grows (by
// doubling, copying) when a step needs more; the engine's paged allocator
// will replace this contiguous layout later.
//
// Not thread-safe; owned by one decoding loop.
#ifndef SSD_COMMON_MODEL_KV_CACHE_H_
#define SSD_COMMON_MODEL_KV_CACHE_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "common/model/model_config.h"

namespace ssd {

class KVCache {
 public:
  KVCache(const ModelConfig& config, int64_t slots, int64_t initial_capacity,
          at::ScalarType dtype, at::Device device);

  int64_t slots() const { return static_cast<int64_t>(lengths_.size()); }
  int64_t capacity() const { return capacity_; }
  int64_t length(int64_t slot) const { return lengths_[static_cast<size_t>(slot)]; }
  const std::vector<int64_t>& lengths() const { return lengths_; }

  // Empties one slot (its memory is reused by the next sequence).
  void ResetSlot(int64_t slot) { lengths_[static_cast<size_t>(slot)] = 0; }

  // Makes room for `needed` positions in every slot.
  void EnsureCapacity(int64_t needed);

  at::Tensor& keys(int64_t layer) { return k_[static_cast<size_t>(layer)]; }
  at::Tensor& values(int64_t layer) { return v_[static_cast<size_t>(layer)]; }

  // Called by the decoder after a step has written `added[b]` new positions.
  void Advance(const std::vector<int64_t>& added);

  // Bytes held by the cache tensors.
  int64_t bytes() const;

 private:
  const int64_t num_layers_;
  const int64_t kv_heads_;
  const int64_t head_dim_;
  const at::ScalarType dtype_;
  const at::Device device_;
  int64_t capacity_;
  std::vector<int64_t> lengths_;
  std::vector<at::Tensor> k_;  // [slots, K, capacity, D] per layer
  std::vector<at::Tensor> v_;
};

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_KV_CACHE_H_
