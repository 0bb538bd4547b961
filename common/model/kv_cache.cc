#include "common/model/kv_cache.h"

#include <ATen/ATen.h>
#include <glog/logging.h>

#include <algorithm>

namespace ssd {

KVCache::KVCache(const ModelConfig& config, int64_t slots, int64_t initial_capacity,
                 at::ScalarType dtype, at::Device device)
    : num_layers_(config.num_hidden_layers),
      kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim),
      dtype_(dtype),
      device_(device),
      capacity_(std::max<int64_t>(initial_capacity, 1)),
      lengths_(static_cast<size_t>(slots), 0) {
  CHECK_GT(slots, 0);
  auto opts = at::TensorOptions().dtype(dtype_).device(device_);
  for (int64_t l = 0; l < num_layers_; ++l) {
    k_.push_back(at::zeros({slots, kv_heads_, capacity_, head_dim_}, opts));
    v_.push_back(at::zeros({slots, kv_heads_, capacity_, head_dim_}, opts));
  }
}

void KVCache::EnsureCapacity(int64_t needed) {
  if (needed <= capacity_) return;
  int64_t cap = capacity_;
  while (cap < needed) cap *= 2;
  auto opts = at::TensorOptions().dtype(dtype_).device(device_);
  for (size_t l = 0; l < k_.size(); ++l) {
    at::Tensor nk = at::zeros({slots(), kv_heads_, cap, head_dim_}, opts);
    at::Tensor nv = at::zeros({slots(), kv_heads_, cap, head_dim_}, opts);
    nk.narrow(2, 0, capacity_).copy_(k_[l]);
    nv.narrow(2, 0, capacity_).copy_(v_[l]);
    k_[l] = std::move(nk);
    v_[l] = std::move(nv);
  }
  capacity_ = cap;
}

void KVCache::Advance(const std::vector<int64_t>& added) {
  CHECK_EQ(added.size(), lengths_.size());
  for (size_t b = 0; b < added.size(); ++b) {
    lengths_[b] += added[b];
    CHECK_LE(lengths_[b], capacity_);
  }
}

int64_t KVCache::bytes() const {
  int64_t total = 0;
  for (size_t l = 0; l < k_.size(); ++l) total += k_[l].nbytes() + v_[l].nbytes();
  return total;
}

}  // namespace ssd
