// model.safetensors.index.json of arbitrary bytes, parsed and then opened
// against a folder holding two real shards (written once, by ssd's own
// safetensors writer). Properties: an accepted index names only plain files
// inside the folder; an opened checkpoint finds every tensor the index maps,
// in a file that really holds it, and nothing else.
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/model/checkpoint_files.h"
#include "common/model/safetensors.h"
#include "common/util/file_util.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// The folder with the shards, made on first use and removed at exit; each
// input's index is written into it.
std::string* shard_folder = nullptr;

const std::string& ShardFolder() {
  if (shard_folder != nullptr) return *shard_folder;
  shard_folder = new std::string(MakeFuzzTempDir("ssd_fuzz_index"));
  static const float a[6] = {1, 2, 3, 4, 5, 6};
  static const float b[2] = {7, 8};
  const std::vector<ssd::TensorToWrite> first = {{"model.embed_tokens.weight", ssd::DType::kF32, {2, 3}, a},
                                                 {"model.norm.weight", ssd::DType::kF32, {2}, b}};
  const std::vector<ssd::TensorToWrite> second = {{"lm_head.weight", ssd::DType::kF32, {3, 2}, a}};
  if (!ssd::WriteSafetensors(*shard_folder + "/model-00001-of-00002.safetensors", first).ok() ||
      !ssd::WriteSafetensors(*shard_folder + "/model-00002-of-00002.safetensors", second).ok()) {
    std::abort();
  }
  return *shard_folder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto map = ssd::ParseWeightsIndex(text, "fuzz/model.safetensors.index.json");
  if (!map.ok()) return 0;
  for (const auto& [tensor, shard] : *map) {
    SSD_FUZZ_CHECK(!shard.empty() && shard.find('/') == std::string::npos && shard != "." && shard != "..");
  }
  const std::string& dir = ShardFolder();
  const std::string index = dir + "/" + ssd::kWeightsIndexFile;
  if (!ssd::WriteFileAtomically(index, std::string(text)).ok()) std::abort();
  auto files = ssd::CheckpointFiles::Open(dir);
  if (files.ok()) {
    SSD_FUZZ_CHECK(files->sharded());
    SSD_FUZZ_CHECK(files->TensorNames().size() == map->size());
    for (const auto& [tensor, shard] : *map) {
      const ssd::CheckpointFiles::Located at = files->Find(tensor);
      SSD_FUZZ_CHECK(at.file != nullptr && at.info != nullptr && at.info->name == tensor);
      SSD_FUZZ_CHECK(at.file->Find(tensor) == at.info);
    }
  }
  ::unlink(index.c_str());
  return 0;
}
