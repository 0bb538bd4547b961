// Locates the weight files of a Hugging Face model folder: either a single
// `model.safetensors`, or the shards listed by `model.safetensors.index.json`.
// Validates the index (JSON shape, file names confined to the folder, every
// listed tensor present in its shard). No libtorch dependency.
#ifndef SSD_COMMON_MODEL_CHECKPOINT_FILES_H_
#define SSD_COMMON_MODEL_CHECKPOINT_FILES_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/model/safetensors.h"

namespace ssd {

constexpr char kSingleWeightsFile[] = "model.safetensors";
constexpr char kWeightsIndexFile[] = "model.safetensors.index.json";

// The tokenizer files of a model folder, copied next to the weights so a
// folder loads on its own (checkpoints, `ssd model init --tokenizer`).
const std::vector<std::string>& TokenizerFileNames();
// Copies those of TokenizerFileNames() that exist in `from` into `to`
// (each atomically).
absl::Status CopyTokenizerFiles(const std::string& from, const std::string& to);

// `path` itself, unless it is a regular file holding one line that names a
// folder next to it (the `checkpoints/latest` pointer that runs wrote before
// `latest` became a symlink): then that folder. Lets `--model
// RUN/checkpoints/latest` work for old runs too.
std::string ResolveModelDir(const std::string& path);

// Parses model.safetensors.index.json text (`where` names it in errors):
// tensor name -> shard file name, every name a plain file name (no '/',
// never "." or ".."), so that a hostile index cannot point outside the
// model folder. Opens nothing.
absl::StatusOr<std::map<std::string, std::string>> ParseWeightsIndex(absl::string_view text, const std::string& where);

// The opened weight files of one checkpoint.
class CheckpointFiles {
 public:
  // Opens and validates every weight file of `model_dir`.
  static absl::StatusOr<CheckpointFiles> Open(const std::string& model_dir);

  struct Located {
    const SafetensorsFile* file = nullptr;
    const TensorInfo* info = nullptr;
  };
  // The file and header entry that hold `name`; file == nullptr when absent.
  Located Find(const std::string& name) const;

  // All tensor names, sorted.
  std::vector<std::string> TensorNames() const;
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  bool sharded() const { return sharded_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Located> where_;
  bool sharded_ = false;
};

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_CHECKPOINT_FILES_H_
