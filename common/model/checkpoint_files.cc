#include "common/model/checkpoint_files.h"

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/util/file_util.h"
#include "common/util/json.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using json = nlohmann::json;

// Shard names come from a file we do not trust: refuse anything that could
// point outside the model folder.
bool IsSafeShardName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != ".." &&
         name.find('\0') == std::string::npos;
}

}  // namespace

const std::vector<std::string>& TokenizerFileNames() {
  static const std::vector<std::string> kNames = {
      "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "vocab.json",
      "merges.txt"};
  return kNames;
}

absl::Status CopyTokenizerFiles(const std::string& from, const std::string& to) {
  for (const std::string& name : TokenizerFileNames()) {
    const std::string src = JoinPath(from, name);
    if (!PathExists(src)) continue;
    ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(src));
    RETURN_IF_ERROR(WriteFileAtomically(JoinPath(to, name), bytes));
  }
  return absl::OkStatus();
}

std::string ResolveModelDir(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 256) return path;
  absl::StatusOr<std::string> text = ReadFileToString(path, 256);
  if (!text.ok()) return path;
  const std::string name(absl::StripAsciiWhitespace(*text));
  if (!IsSafeShardName(name)) return path;  // one plain name, nothing that climbs out
  const size_t slash = path.find_last_of('/');
  const std::string sibling = slash == std::string::npos ? name : JoinPath(path.substr(0, slash), name);
  struct stat dir {};
  if (::stat(sibling.c_str(), &dir) != 0 || !S_ISDIR(dir.st_mode)) return path;
  return sibling;
}

absl::StatusOr<std::map<std::string, std::string>> ParseWeightsIndex(absl::string_view text, const std::string& where) {
  json j;
  {
    absl::StatusOr<json> parsed = ParseJson<json>(text);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", parsed.status().message()));
    j = std::move(*parsed);
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": expected an object with a \"weight_map\" object"));
  }
  std::map<std::string, std::string> tensor_to_file;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": weight_map[\"", it.key(), "\"] must be a file name string"));
    }
    std::string shard = it.value().get<std::string>();
    if (!IsSafeShardName(shard)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": weight_map[\"", it.key(), "\"] = \"", shard,
                                                     "\" is not a plain file name inside the model folder"));
    }
    tensor_to_file[it.key()] = std::move(shard);
  }
  return tensor_to_file;
}

absl::StatusOr<CheckpointFiles> CheckpointFiles::Open(const std::string& model_dir) {
  CheckpointFiles out;
  const std::string index_path = JoinPath(model_dir, kWeightsIndexFile);
  const std::string single_path = JoinPath(model_dir, kSingleWeightsFile);
  if (!PathExists(index_path)) {
    if (!PathExists(single_path)) {
      return absl::NotFoundError(absl::StrCat(model_dir, ": no ", kSingleWeightsFile, " and no ", kWeightsIndexFile,
                                              " (is this a Hugging Face model folder?)"));
    }
    ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open(single_path));
    out.files_.push_back(std::make_unique<SafetensorsFile>(std::move(f)));
    for (const TensorInfo& t : out.files_[0]->tensors()) {
      out.where_[t.name] = {out.files_[0].get(), &t};
    }
    return out;
  }

  out.sharded_ = true;
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path, size_t{64} << 20));
  ASSIGN_OR_RETURN(auto tensor_to_file, ParseWeightsIndex(text, index_path));
  std::map<std::string, size_t> file_index;
  for (const auto& [name, shard] : tensor_to_file) {
    if (file_index.count(shard)) continue;
    ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open(JoinPath(model_dir, shard)));
    file_index[shard] = out.files_.size();
    out.files_.push_back(std::make_unique<SafetensorsFile>(std::move(f)));
  }
  for (const auto& [name, shard] : tensor_to_file) {
    const SafetensorsFile* f = out.files_[file_index[shard]].get();
    const TensorInfo* info = f->Find(name);
    if (info == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(index_path, ": tensor \"", name, "\" is mapped to ", shard,
                                                     " but that file does not contain it"));
    }
    out.where_[name] = {f, info};
  }
  return out;
}

CheckpointFiles::Located CheckpointFiles::Find(const std::string& name) const {
  auto it = where_.find(name);
  return it == where_.end() ? Located{} : it->second;
}

std::vector<std::string> CheckpointFiles::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(where_.size());
  for (const auto& [name, loc] : where_) names.push_back(name);
  return names;
}

}  // namespace ssd
