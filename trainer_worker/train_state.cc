#include "trainer_worker/train_state.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/model/checkpoint_files.h"
#include "common/model/safetensors.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

namespace fs = std::filesystem;

constexpr char kLatest[] = "latest";
constexpr char kPartial[] = ".partial";
constexpr char kStateJson[] = "train_state.json";
constexpr char kOptimizerFile[] = "optimizer.safetensors";
constexpr char kRngName[] = "rng.cpu";

absl::Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return absl::InternalError(absl::StrCat(dir, ": cannot open to fsync: ", std::strerror(errno)));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat(dir, ": fsync failed: ", std::strerror(errno)));
  return absl::OkStatus();
}

absl::Status RemoveAll(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return absl::InternalError(absl::StrCat(path, ": cannot remove: ", ec.message()));
  return absl::OkStatus();
}

// Moves a finished `<dir>.partial` into place, replacing an older `dir`.
absl::Status Publish(const std::string& partial, const std::string& dir) {
  RETURN_IF_ERROR(RemoveAll(dir));
  std::error_code ec;
  fs::rename(partial, dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("rename ", partial, " -> ", dir, ": ", ec.message()));
  return SyncDir(fs::path(dir).parent_path().string());
}

// Makes `latest` a relative symlink to `name`: a new link is made under a
// temporary name and renamed over `latest` (rename(2) replaces a link or an
// older run's pointer file atomically), then the folder is fsync'd. A
// symlink, not a pointer file, so `--model RUN/checkpoints/latest` and any
// other tool open the checkpoint directly.
absl::Status PointLatestAt(const std::string& checkpoints_dir, const std::string& name) {
  const std::string latest = JoinPath(checkpoints_dir, kLatest);
  const std::string tmp = latest + ".tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  if (::symlink(name.c_str(), tmp.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("symlink ", tmp, " -> ", name, ": ", std::strerror(errno)));
  }
  if (::rename(tmp.c_str(), latest.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", tmp, " -> ", latest, ": ", std::strerror(errno)));
  }
  return SyncDir(checkpoints_dir);
}

absl::Status WriteTensors(const std::string& path, const NamedTensors& tensors, const at::Tensor& rng) {
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.detach().to(at::kCPU, at::kFloat).contiguous());
    out.push_back({name, DType::kF32, std::vector<int64_t>(keep.back().sizes().begin(), keep.back().sizes().end()),
                   keep.back().data_ptr()});
  }
  if (rng.defined()) {
    keep.push_back(rng.to(at::kCPU, at::kByte).contiguous());
    out.push_back({kRngName, DType::kU8, {keep.back().numel()}, keep.back().data_ptr()});
  }
  return WriteSafetensors(path, out);
}

std::string ConfigSummary(const ModelConfig& c) {
  return absl::StrCat(ModelTypeName(c.arch), ", ", c.num_hidden_layers, " layers, hidden ", c.hidden_size,
                      ", intermediate ", c.intermediate_size, ", heads ", c.num_attention_heads, "/",
                      c.num_key_value_heads, ", head_dim ", c.head_dim, ", vocab ", c.vocab_size,
                      c.tie_word_embeddings ? ", tied" : ", untied",
                      c.is_moe() ? absl::StrCat(", ", c.moe.num_experts, " experts top-", c.moe.num_experts_per_tok,
                                                " of width ", c.moe.moe_intermediate_size, " in ", c.num_moe_layers(),
                                                " layers")
                                 : std::string());
}

}  // namespace

absl::Status SaveModelFolder(const std::string& dir, const ModelConfig& config, const NamedTensors& hf_weights,
                             const std::string& tokenizer_dir) {
  const std::string partial = dir + kPartial;
  RETURN_IF_ERROR(RemoveAll(partial));
  NamedTensors cpu;
  for (const auto& [name, t] : hf_weights) cpu.emplace_back(name, t.detach().to(at::kCPU, at::kFloat));
  SaveOptions save;
  save.dtype = DType::kF32;
  RETURN_IF_ERROR(SaveHfCheckpoint(partial, config, cpu, save));
  return PublishModelFolder(partial, dir, tokenizer_dir);
}

absl::Status PublishModelFolder(const std::string& partial, const std::string& dir, const std::string& tokenizer_dir) {
  if (!tokenizer_dir.empty()) RETURN_IF_ERROR(CopyTokenizerFiles(tokenizer_dir, partial));
  return Publish(partial, dir);
}

absl::Status PrepareModelFolder(const std::string& dir) { return RemoveAll(dir + kPartial); }

absl::Status SaveTrainCheckpoint(const std::string& checkpoints_dir, const CheckpointContents& c, int keep) {
  CHECK(c.config != nullptr);
  RETURN_IF_ERROR(MakeDirs(checkpoints_dir));
  const std::string partial = PartialCheckpointDir(checkpoints_dir, c.state.step);
  RETURN_IF_ERROR(RemoveAll(partial));
  NamedTensors cpu;
  for (const auto& [n, t] : c.hf_weights) cpu.emplace_back(n, t.detach().to(at::kCPU, at::kFloat));
  SaveOptions save;
  save.dtype = DType::kF32;
  RETURN_IF_ERROR(SaveHfCheckpoint(partial, *c.config, cpu, save));
  if (!c.tokenizer_dir.empty()) RETURN_IF_ERROR(CopyTokenizerFiles(c.tokenizer_dir, partial));
  RETURN_IF_ERROR(WriteTensors(JoinPath(partial, kOptimizerFile), c.optimizer_state, c.rng_state));
  return PublishCheckpoint(checkpoints_dir, c.state, keep);
}

std::string CheckpointName(int64_t step) { return absl::StrFormat("step-%08d", step); }

std::string PartialCheckpointDir(const std::string& checkpoints_dir, int64_t step) {
  return JoinPath(checkpoints_dir, CheckpointName(step)) + kPartial;
}

absl::Status PublishCheckpoint(const std::string& checkpoints_dir, const TrainState& state, int keep) {
  const std::string name = CheckpointName(state.step);
  const std::string dir = JoinPath(checkpoints_dir, name);
  const std::string partial = dir + kPartial;
  nlohmann::ordered_json j;
  j["step"] = state.step;
  j["epoch"] = state.epoch;
  j["index_in_epoch"] = state.index_in_epoch;
  j["optimizer_steps"] = state.optimizer_steps;
  j["data_fingerprint"] = absl::StrFormat("%016x", state.data_fingerprint);
  j["recipe"] = state.recipe;
  RETURN_IF_ERROR(WriteFileAtomically(JoinPath(partial, kStateJson), j.dump(2) + "\n"));
  RETURN_IF_ERROR(Publish(partial, dir));
  RETURN_IF_ERROR(PointLatestAt(checkpoints_dir, name));
  // Prune: the newest `keep` complete checkpoints stay; stale partials go.
  std::vector<std::string> complete;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(checkpoints_dir, ec)) {
    const std::string n = entry.path().filename().string();
    if (!absl::StartsWith(n, "step-")) continue;
    if (absl::EndsWith(n, kPartial)) {
      RETURN_IF_ERROR(RemoveAll(entry.path().string()));
    } else {
      complete.push_back(n);
    }
  }
  std::sort(complete.begin(), complete.end());
  for (size_t i = 0; i + static_cast<size_t>(std::max(keep, 1)) < complete.size(); ++i) {
    if (complete[i] != name) RETURN_IF_ERROR(RemoveAll(JoinPath(checkpoints_dir, complete[i])));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> LatestCheckpoint(const std::string& checkpoints_dir) {
  const std::string latest = JoinPath(checkpoints_dir, kLatest);
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(latest, ec);  // a dangling link still counts
  if (ec || !fs::exists(st)) return std::optional<std::string>();
  std::string name;
  if (fs::is_symlink(st)) {
    name = fs::read_symlink(latest, ec).string();
    if (ec) return absl::InternalError(absl::StrCat(latest, ": cannot read the link: ", ec.message()));
  } else {
    // Runs from before `latest` became a symlink wrote the folder's name.
    ASSIGN_OR_RETURN(name, ReadFileToString(latest, 4096));
  }
  const std::string dir = JoinPath(checkpoints_dir, std::string(absl::StripAsciiWhitespace(name)));
  if (!PathExists(JoinPath(dir, kStateJson))) {
    return absl::DataLossError(
        absl::StrCat(latest, " names ", dir, ", which has no ", kStateJson, "; remove ", latest, " to start over"));
  }
  return std::optional<std::string>(dir);
}

absl::StatusOr<LoadedTrainState> LoadTrainState(const std::string& dir) {
  LoadedTrainState out;
  const std::string json_path = JoinPath(dir, kStateJson);
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(json_path, 1 << 24));
  auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError(absl::StrCat(json_path, ": not valid JSON"));
  for (const char* key : {"step", "epoch", "index_in_epoch", "optimizer_steps"}) {
    if (!j.contains(key) || !j[key].is_number_integer()) {
      return absl::DataLossError(absl::StrCat(json_path, ": missing integer field \"", key, "\""));
    }
  }
  out.state.step = j["step"];
  out.state.epoch = j["epoch"];
  out.state.index_in_epoch = j["index_in_epoch"];
  out.state.optimizer_steps = j["optimizer_steps"];
  if (!j.contains("data_fingerprint") || !j["data_fingerprint"].is_string() ||
      !absl::SimpleHexAtoi(j["data_fingerprint"].get<std::string>(), &out.state.data_fingerprint)) {
    return absl::DataLossError(absl::StrCat(json_path, ": \"data_fingerprint\" must be a hex string"));
  }
  if (j.contains("recipe")) out.state.recipe = j["recipe"];
  const std::string opt_path = JoinPath(dir, kOptimizerFile);
  // A sharded checkpoint keeps its optimizer state and RNG in its shards
  // (sharded_checkpoint.h).
  if (!PathExists(opt_path) && PathExists(JoinPath(dir, "shard_manifest.json"))) return out;
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(opt_path));
  for (const TensorInfo& info : file.tensors()) {
    if (info.name == kRngName && info.dtype == DType::kU8) {
      out.rng_state = at::from_blob(const_cast<uint8_t*>(file.Data(info)), {info.num_elements()}, at::kByte).clone();
      continue;
    }
    if (info.dtype != DType::kF32) {
      return absl::DataLossError(
          absl::StrCat(opt_path, ": tensor ", info.name, " is ", DTypeName(info.dtype), ", expected F32"));
    }
    out.optimizer_state[info.name] =
        at::from_blob(const_cast<uint8_t*>(file.Data(info)), info.shape, at::kFloat).clone();
  }
  return out;
}

absl::Status CheckSameArchitecture(const ModelConfig& a, const std::string& a_dir, const ModelConfig& b,
                                   const std::string& b_dir) {
  const bool same = a.SameArchitecture(b);
  if (same) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "checkpoint ", b_dir, " holds a different architecture (", ConfigSummary(b), ") than --model ", a_dir, " (",
      ConfigSummary(a), "); point --out at a fresh folder or resume with the model it was trained from"));
}

}  // namespace ssd
