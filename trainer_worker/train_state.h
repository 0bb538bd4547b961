// Training checkpoints: everything a run needs to continue bit for bit.
//
// Layout under <out>/checkpoints/:
//   step-00000040/
//     config.json, model.safetensors     the model as a Hugging Face folder
//     tokenizer.json, tokenizer_config.json, ...  copied from the model
//     optimizer.safetensors              AdamW moments + the CPU RNG state
//     train_state.json                   step, data cursor, recipe, fingerprint
//   latest -> step-00000040              a relative symlink, so
//                                        `--model RUN/checkpoints/latest` works
//
// Atomicity: a checkpoint is written into "step-N.partial/" (each file
// fsync'd), the folder is renamed to "step-N", the parent fsync'd, and only
// then is `latest` replaced (a new link renamed over it). A crash at any
// point leaves `latest` naming a complete checkpoint (or absent); stale
// .partial folders are removed by the next save. Older runs wrote `latest`
// as a file holding the folder's name; LatestCheckpoint reads both.
#ifndef SSD_TRAINER_WORKER_TRAIN_STATE_H_
#define SSD_TRAINER_WORKER_TRAIN_STATE_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/checkpoint.h"
#include "common/model/checkpoint_files.h"  // CopyTokenizerFiles
#include "common/model/model_config.h"
#include "nlohmann/json.hpp"

namespace ssd {

struct TrainState {
  int64_t step = 0;             // optimizer steps completed
  int64_t epoch = 0;            // data cursor: the next step's epoch ...
  int64_t index_in_epoch = 0;   // ... and its index within the epoch
  int64_t optimizer_steps = 0;  // AdamW's t
  uint64_t data_fingerprint = 0;
  // Settings that fix the sequence of updates (seed, batching, schedule,
  // optimizer); a resume must present the same ones.
  nlohmann::ordered_json recipe = nlohmann::ordered_json::object();
};

struct CheckpointContents {
  const ModelConfig* config = nullptr;
  NamedTensors hf_weights;       // HF names, saved as F32
  NamedTensors optimizer_state;  // saved as F32
  at::Tensor rng_state;          // uint8, CPU
  TrainState state;
  std::string tokenizer_dir;  // tokenizer files are copied from here
};

// Writes checkpoint `step-<state.step>` under `checkpoints_dir` and points
// `latest` at it; keeps the newest `keep` checkpoints (>= 1).
absl::Status SaveTrainCheckpoint(const std::string& checkpoints_dir, const CheckpointContents& contents, int keep);

// "step-%08d".
std::string CheckpointName(int64_t step);
// Where a checkpoint of `step` is written before it is published.
std::string PartialCheckpointDir(const std::string& checkpoints_dir, int64_t step);
// The last part of a save: writes train_state.json into the partial folder,
// renames it into place, points `latest` at it and prunes to `keep`.
absl::Status PublishCheckpoint(const std::string& checkpoints_dir, const TrainState& state, int keep);

// The folder `latest` names, or nullopt when there is none yet.
absl::StatusOr<std::optional<std::string>> LatestCheckpoint(const std::string& checkpoints_dir);

struct LoadedTrainState {
  TrainState state;
  std::map<std::string, at::Tensor> optimizer_state;
  at::Tensor rng_state;
};

// Reads train_state.json and optimizer.safetensors of a checkpoint folder.
absl::StatusOr<LoadedTrainState> LoadTrainState(const std::string& checkpoint_dir);

// Fails with FailedPrecondition, naming both folders and the first field that
// differs, unless `found` (the checkpoint's) describes the same architecture
// and shapes as `expected` (the --model's).
absl::Status CheckSameArchitecture(const ModelConfig& expected, const std::string& expected_dir,
                                   const ModelConfig& found, const std::string& found_dir);

// For a model folder written in parts (HfCheckpointWriter): clears a stale
// `dir`.partial to write into, and afterwards copies the tokenizer files
// into it and renames it to `dir`.
absl::Status PrepareModelFolder(const std::string& dir);
absl::Status PublishModelFolder(const std::string& partial, const std::string& dir, const std::string& tokenizer_dir);

// Writes a Hugging Face model folder at `dir` atomically (via dir.partial).
absl::Status SaveModelFolder(const std::string& dir, const ModelConfig& config, const NamedTensors& hf_weights,
                             const std::string& tokenizer_dir);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_TRAIN_STATE_H_
