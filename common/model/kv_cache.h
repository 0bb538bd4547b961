// KVCache: paged key/value memory for many sequences of different lengths.
//
// Memory is a pool of fixed-size blocks, each holding `block_size`
// consecutive positions of one sequence for every layer:
//
//   keys(layer), values(layer): [num_blocks, kv_heads, block_size, head_dim]
//
// A sequence is identified by a small integer id in [0, max_seqs). Its
// positions [0, length) live in the blocks listed by its block table:
// position p is at block block_table(seq)[p / block_size], offset
// p % block_size. A short generation therefore holds only the blocks it
// uses, never max_tokens worth of memory.
//
// Blocks are reference-counted so that sequences can share a prefix: Fork()
// gives a new sequence the parent's full blocks (shared, read-only from then
// on) and a private copy of its partially filled last block, so later
// writes never touch shared memory.
//
// Budgeting: Reserve() either allocates every block a sequence needs for a
// target length or allocates nothing and returns false; a scheduler uses
// that to make requests wait instead of running out of memory. GrowPool()
// enlarges the pool (copying) for callers without a budget.
//
// Not thread-safe; owned by one decoding loop.
#ifndef SSD_COMMON_MODEL_KV_CACHE_H_
#define SSD_COMMON_MODEL_KV_CACHE_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "common/model/model_config.h"

namespace ssd {

struct KVCacheOptions {
  int64_t block_size = 16;  // positions per block
  int64_t num_blocks = 0;   // pool size; 0 means one block per sequence
  int64_t max_seqs = 1;     // sequence ids are [0, max_seqs)
};

class KVCache {
 public:
  KVCache(const ModelConfig& config, const KVCacheOptions& options, at::ScalarType dtype, at::Device device);

  // Bytes of one block across all layers (keys and values).
  static int64_t BytesPerBlock(const ModelConfig& config, int64_t block_size, at::ScalarType dtype);

  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return static_cast<int64_t>(refcount_.size()); }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int64_t used_blocks() const { return num_blocks() - free_blocks(); }
  // The most blocks ever in use at once since construction.
  int64_t peak_used_blocks() const { return peak_used_; }
  int64_t max_seqs() const { return static_cast<int64_t>(seqs_.size()); }

  int64_t length(int64_t seq) const { return Seq(seq).length; }
  // Positions the sequence can hold without allocating.
  int64_t reserved(int64_t seq) const { return static_cast<int64_t>(Seq(seq).blocks.size()) * block_size_; }
  const std::vector<int32_t>& block_table(int64_t seq) const { return Seq(seq).blocks; }

  // Blocks a sequence of `length` positions occupies.
  int64_t BlocksFor(int64_t length) const { return (length + block_size_ - 1) / block_size_; }

  // Makes room for `length` positions in `seq`. Returns false, allocating
  // nothing, when the pool lacks free blocks.
  bool Reserve(int64_t seq, int64_t length);
  // Frees the sequence's blocks (shared ones when their last user leaves)
  // and empties it.
  void Release(int64_t seq);
  // `dst` (empty) becomes a copy of `src`: full blocks are shared, the
  // partially filled last block is copied. Returns false, changing nothing,
  // when no block is free for that copy.
  bool Fork(int64_t src, int64_t dst);

  // Enlarges the pool to `num_blocks` blocks, copying the contents.
  void GrowPool(int64_t num_blocks);

  at::Tensor& keys(int64_t layer) { return k_[static_cast<size_t>(layer)]; }
  at::Tensor& values(int64_t layer) { return v_[static_cast<size_t>(layer)]; }

  // Called by the decoder after writing `added[i]` positions to seqs[i]
  // (which must be reserved).
  void Advance(const std::vector<int64_t>& seqs, const std::vector<int64_t>& added);

  // Bytes held by the pool tensors.
  int64_t bytes() const;

 private:
  struct SeqState {
    int64_t length = 0;
    std::vector<int32_t> blocks;
  };
  const SeqState& Seq(int64_t seq) const;
  SeqState& MutableSeq(int64_t seq);
  int32_t TakeBlock();
  void DropBlock(int32_t block);

  const int64_t num_layers_;
  const int64_t kv_heads_;
  const int64_t head_dim_;
  const int64_t block_size_;
  const at::ScalarType dtype_;
  const at::Device device_;
  std::vector<SeqState> seqs_;
  std::vector<int32_t> refcount_;  // per block
  std::vector<int32_t> free_;      // stack of free block ids
  int64_t peak_used_ = 0;
  std::vector<at::Tensor> k_;  // [num_blocks, K, block_size, D] per layer
  std::vector<at::Tensor> v_;
};

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_KV_CACHE_H_
