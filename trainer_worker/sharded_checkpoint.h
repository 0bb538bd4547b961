// Checkpoints of sharded training (sharding_mode.h): each rank writes its
// own shard, and a manifest says how every tensor is split, so a run can
// resume at the same world size bit for bit or at another one by
// resharding on load.
//
// Layout of <out>/checkpoints/step-N/ (train_state.h has the rest):
//   config.json, tokenizer files          rank 0: the architecture
//   shard_manifest.json                   rank 0: format, world size, mode,
//                                         each unit's flat layout (its
//                                         parameters' names, shapes and
//                                         offsets) and each shard file's
//                                         size in bytes
//   shards/rank-0000r-of-0000d.safetensors  rank r: "master.<unit>",
//                                         "exp_avg.<unit>", "exp_avg_sq.<unit>"
//                                         (its flat shard of each); rank 0's
//                                         also holds the CPU RNG state
//   train_state.json                      rank 0, last: step, data cursor,
//                                         recipe
//
// Saving is collective: rank 0 prepares step-N.partial/, every rank writes
// its shard (fsync'd), all meet, rank 0 checks that every shard is there,
// writes the rest and publishes as train_state.h does; all meet again.
// The ranks must share one --out folder (one host, or a shared filesystem),
// as torch.distributed.checkpoint assumes; a shard missing from rank 0's
// view fails the save, naming it.
//
// Loading reads only the old shards that overlap this rank's new shard, one
// file at a time. The model is checked against the manifest (unit by unit,
// parameter by parameter) before any tensor is read, and a missing or
// truncated shard file is an error naming it: nothing is loaded half-way.
#ifndef SSD_TRAINER_WORKER_SHARDED_CHECKPOINT_H_
#define SSD_TRAINER_WORKER_SHARDED_CHECKPOINT_H_

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/model_config.h"
#include "common/model/sharding_mode.h"
#include "trainer_worker/collective.h"
#include "trainer_worker/sharded_model.h"
#include "trainer_worker/train_state.h"

namespace ssd {

struct ShardedCheckpointContents {
  const ModelConfig* config = nullptr;
  const std::vector<FlatUnitLayout>* layout = nullptr;
  ShardingMode mode = ShardingMode::kFull;
  NamedTensors shard;    // ShardedModel::ShardTensors() of this rank
  at::Tensor rng_state;  // rank 0's CPU RNG
  TrainState state;
  std::string tokenizer_dir;
};

// Collective: every rank of `collective` calls it with its own shard.
absl::Status SaveShardedCheckpoint(const std::string& checkpoints_dir, const ShardedCheckpointContents& contents,
                                   Collective& collective, int keep);

// True when `checkpoint_dir` holds a shard manifest.
bool IsShardedCheckpoint(const std::string& checkpoint_dir);

struct LoadedShard {
  std::map<std::string, at::Tensor> tensors;  // as ShardedModel::ShardTensors() names them
  at::Tensor rng_state;                       // undefined if the checkpoint has none
  int saved_world_size = 0;
  ShardingMode saved_mode = ShardingMode::kFull;
};

// Rank `rank`'s shard for `world_size` ranks of a checkpoint written at any
// world size, for a model whose units are `layout`.
absl::StatusOr<LoadedShard> LoadShardedState(const std::string& checkpoint_dir,
                                             const std::vector<FlatUnitLayout>& layout, int rank, int world_size);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_SHARDED_CHECKPOINT_H_
