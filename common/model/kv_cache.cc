#include "common/model/kv_cache.h"

#include <ATen/ATen.h>
#include <glog/logging.h>

#include <algorithm>

namespace ssd {

KVCache::KVCache(const ModelConfig& config, const KVCacheOptions& options, at::ScalarType dtype, at::Device device)
    : num_layers_(config.num_hidden_layers),
      kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim),
      block_size_(options.block_size),
      dtype_(dtype),
      device_(device),
      seqs_(static_cast<size_t>(options.max_seqs)) {
  CHECK_GT(options.max_seqs, 0);
  CHECK_GT(block_size_, 0);
  for (int64_t l = 0; l < num_layers_; ++l) {
    k_.emplace_back();
    v_.emplace_back();
  }
  GrowPool(options.num_blocks > 0 ? options.num_blocks : options.max_seqs);
}

int64_t KVCache::BytesPerBlock(const ModelConfig& config, int64_t block_size, at::ScalarType dtype) {
  return 2 * config.num_hidden_layers * config.num_key_value_heads * block_size * config.head_dim *
         static_cast<int64_t>(c10::elementSize(dtype));
}

const KVCache::SeqState& KVCache::Seq(int64_t seq) const {
  CHECK(seq >= 0 && seq < max_seqs()) << "sequence id " << seq << " outside [0, " << max_seqs() << ")";
  return seqs_[static_cast<size_t>(seq)];
}

KVCache::SeqState& KVCache::MutableSeq(int64_t seq) {
  Seq(seq);  // bounds check
  return seqs_[static_cast<size_t>(seq)];
}

int32_t KVCache::TakeBlock() {
  CHECK(!free_.empty());
  const int32_t b = free_.back();
  free_.pop_back();
  refcount_[static_cast<size_t>(b)] = 1;
  // Fresh blocks are zeroed: the ATen attention path reads whole blocks and
  // multiplies masked positions by 0, which garbage (NaN) would poison.
  for (size_t l = 0; l < k_.size(); ++l) {
    k_[l][b].zero_();
    v_[l][b].zero_();
  }
  peak_used_ = std::max(peak_used_, used_blocks());
  return b;
}

void KVCache::DropBlock(int32_t block) {
  int32_t& rc = refcount_[static_cast<size_t>(block)];
  CHECK_GT(rc, 0) << "block " << block << " released twice";
  if (--rc == 0) free_.push_back(block);
}

bool KVCache::Reserve(int64_t seq, int64_t length) {
  SeqState& s = MutableSeq(seq);
  const int64_t need = BlocksFor(length) - static_cast<int64_t>(s.blocks.size());
  if (need <= 0) return true;
  if (need > free_blocks()) return false;
  for (int64_t i = 0; i < need; ++i) s.blocks.push_back(TakeBlock());
  return true;
}

void KVCache::Release(int64_t seq) {
  SeqState& s = MutableSeq(seq);
  for (int32_t b : s.blocks) DropBlock(b);
  s.blocks.clear();
  s.length = 0;
}

bool KVCache::Fork(int64_t src, int64_t dst) {
  const SeqState& from = Seq(src);
  SeqState& to = MutableSeq(dst);
  CHECK(to.blocks.empty() && to.length == 0) << "Fork into non-empty sequence " << dst;
  const int64_t full = from.length / block_size_;
  const bool partial = from.length % block_size_ != 0;
  if (partial && free_.empty()) return false;
  for (int64_t i = 0; i < full; ++i) {
    const int32_t b = from.blocks[static_cast<size_t>(i)];
    ++refcount_[static_cast<size_t>(b)];
    to.blocks.push_back(b);
  }
  if (partial) {
    const int32_t src_block = from.blocks[static_cast<size_t>(full)];
    const int32_t copy = TakeBlock();
    for (size_t l = 0; l < k_.size(); ++l) {
      k_[l][copy].copy_(k_[l][src_block]);
      v_[l][copy].copy_(v_[l][src_block]);
    }
    to.blocks.push_back(copy);
  }
  to.length = from.length;
  return true;
}

void KVCache::GrowPool(int64_t num_blocks) {
  const int64_t old = this->num_blocks();
  if (num_blocks <= old) return;
  auto opts = at::TensorOptions().dtype(dtype_).device(device_);
  for (size_t l = 0; l < k_.size(); ++l) {
    // Uninitialised (TakeBlock zeroes a block when it is handed out), so the
    // untouched pages of a large budget never become resident.
    at::Tensor nk = at::empty({num_blocks, kv_heads_, block_size_, head_dim_}, opts);
    at::Tensor nv = at::empty({num_blocks, kv_heads_, block_size_, head_dim_}, opts);
    if (old > 0) {
      nk.narrow(0, 0, old).copy_(k_[l]);
      nv.narrow(0, 0, old).copy_(v_[l]);
    }
    k_[l] = std::move(nk);
    v_[l] = std::move(nv);
  }
  refcount_.resize(static_cast<size_t>(num_blocks), 0);
  // Lowest ids come off the stack first.
  for (int64_t b = old; b < num_blocks; ++b) free_.push_back(static_cast<int32_t>(b));
  std::sort(free_.begin(), free_.end(), [](int32_t a, int32_t b) { return a > b; });
}

void KVCache::Advance(const std::vector<int64_t>& seqs, const std::vector<int64_t>& added) {
  CHECK_EQ(seqs.size(), added.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    SeqState& s = MutableSeq(seqs[i]);
    s.length += added[i];
    CHECK_LE(s.length, static_cast<int64_t>(s.blocks.size()) * block_size_)
        << "sequence " << seqs[i] << " written past its reserved blocks";
  }
}

int64_t KVCache::bytes() const {
  int64_t total = 0;
  for (size_t l = 0; l < k_.size(); ++l) total += k_[l].nbytes() + v_[l].nbytes();
  return total;
}

}  // namespace ssd
