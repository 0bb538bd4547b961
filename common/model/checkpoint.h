// Loading and saving Hugging Face model folders as libtorch tensors.
//
// Load validates everything before converting any data: config.json, the
// weight files (see checkpoint_files.h) and that every tensor the config
// implies exists with the expected shape and a floating dtype (F32, BF16,
// F16). Save writes config.json and either one model.safetensors or shards
// plus model.safetensors.index.json; every file is written atomically.
#ifndef SSD_COMMON_MODEL_CHECKPOINT_H_
#define SSD_COMMON_MODEL_CHECKPOINT_H_

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/model_config.h"
#include "common/model/safetensors.h"

namespace ssd {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Loads every tensor named by ExpectedWeights(config) from `model_dir`,
// converted to `dtype` on `device`. Extra tensors that the forward ignores are
// skipped; other unknown tensors are logged and skipped.
absl::StatusOr<std::map<std::string, at::Tensor>> LoadHfWeights(const std::string& model_dir, const ModelConfig& config,
                                                                at::ScalarType dtype, at::Device device);

struct SaveOptions {
  DType dtype = DType::kF32;  // F32, BF16 or F16
  // 0 writes one model.safetensors; otherwise shards of at most this many bytes
  // (a single tensor larger than the limit gets a shard of its own).
  uint64_t max_shard_bytes = 0;
};

// Writes config.json and the weights of `tensors` (HF names) into `dir`,
// creating it. The config's torch_dtype is set from options.dtype.
absl::Status SaveHfCheckpoint(const std::string& dir, const ModelConfig& config, const NamedTensors& tensors,
                              const SaveOptions& options);

// Writes a Hugging Face folder a part at a time: each WritePart is one
// safetensors file (model-0000i-of-0000N.safetensors with an index when
// `indexed` or parts > 1, else model.safetensors), so a caller that gathers sharded
// parameters unit by unit never holds the whole model. Finish writes the
// index and config.json (torch_dtype from `dtype`).
class HfCheckpointWriter {
 public:
  static absl::StatusOr<HfCheckpointWriter> Open(const std::string& dir, const ModelConfig& config, int parts,
                                                 DType dtype, bool indexed = false);
  absl::Status WritePart(const NamedTensors& tensors);
  absl::Status Finish();

 private:
  HfCheckpointWriter() = default;
  std::string dir_;
  ModelConfig config_;
  int parts_ = 1;
  DType dtype_ = DType::kF32;
  bool indexed_ = false;
  int written_ = 0;
  uint64_t total_bytes_ = 0;
  std::map<std::string, std::string> weight_map_;
};

absl::StatusOr<at::ScalarType> ToScalarType(DType dtype);

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_CHECKPOINT_H_
