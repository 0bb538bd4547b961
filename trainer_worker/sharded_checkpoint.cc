#include "trainer_worker/sharded_checkpoint.h"

#include <ATen/ATen.h>
#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/model/checkpoint_files.h"
#include "common/model/safetensors.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

constexpr char kManifest[] = "shard_manifest.json";
constexpr char kFormat[] = "ssd-sharded-checkpoint-1";
constexpr char kRngName[] = "rng.cpu";
constexpr const char* kStateNames[] = {"master.", "exp_avg.", "exp_avg_sq."};

std::string ShardFile(int rank, int world) {
  return absl::StrFormat("shards/rank-%05d-of-%05d.safetensors", rank, world);
}

// Every rank learns whether any rank failed, so none waits at a collective
// the failed one will never reach.
absl::Status Agree(Collective& coll, const absl::Status& mine, const char* what) {
  at::Tensor failed = at::full({1}, mine.ok() ? 0.0 : 1.0, at::kDouble);
  RETURN_IF_ERROR(coll.AllReduceSum({failed}));
  if (!mine.ok()) return mine;
  if (failed.item<double>() > 0) {
    return absl::AbortedError(absl::StrCat(what, ": another rank failed (its log says why)"));
  }
  return absl::OkStatus();
}

int64_t FileBytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

nlohmann::ordered_json LayoutJson(const std::vector<FlatUnitLayout>& layout) {
  nlohmann::ordered_json units = nlohmann::ordered_json::array();
  for (const FlatUnitLayout& u : layout) {
    nlohmann::ordered_json params = nlohmann::ordered_json::array();
    for (const FlatParam& p : u.params) params.push_back({{"name", p.name}, {"shape", p.shape}, {"offset", p.offset}});
    units.push_back({{"name", u.name}, {"numel", u.numel}, {"padded", u.padded}, {"params", params}});
  }
  return units;
}

absl::Status WriteShard(const std::string& path, const NamedTensors& shard, const at::Tensor& rng) {
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : shard) {
    keep.push_back(t.detach().to(at::kCPU, at::kFloat).contiguous());
    out.push_back({name, DType::kF32, {keep.back().numel()}, keep.back().data_ptr()});
  }
  if (rng.defined()) {
    keep.push_back(rng.to(at::kCPU, at::kByte).contiguous());
    out.push_back({kRngName, DType::kU8, {keep.back().numel()}, keep.back().data_ptr()});
  }
  return WriteSafetensors(path, out);
}

}  // namespace

bool IsShardedCheckpoint(const std::string& dir) { return PathExists(JoinPath(dir, kManifest)); }

absl::Status SaveShardedCheckpoint(const std::string& checkpoints_dir, const ShardedCheckpointContents& c,
                                   Collective& coll, int keep) {
  CHECK(c.config != nullptr && c.layout != nullptr);
  const int rank = coll.rank(), world = coll.world_size();
  const std::string partial = PartialCheckpointDir(checkpoints_dir, c.state.step);
  absl::Status prepared;
  if (rank == 0) {
    std::error_code ec;
    std::filesystem::remove_all(partial, ec);
    prepared = ec ? absl::InternalError(absl::StrCat(partial, ": cannot remove: ", ec.message()))
                  : MakeDirs(JoinPath(partial, "shards"));
  }
  RETURN_IF_ERROR(Agree(coll, prepared, "preparing the checkpoint folder"));
  const std::string mine = JoinPath(partial, ShardFile(rank, world));
  absl::Status wrote = PathExists(JoinPath(partial, "shards"))
                           ? WriteShard(mine, c.shard, rank == 0 ? c.rng_state : at::Tensor())
                           : absl::FailedPreconditionError(absl::StrCat(
                                 "rank ", rank, " cannot see ", partial,
                                 ", which rank 0 made: sharded checkpoints need one --out shared by every rank"));
  RETURN_IF_ERROR(Agree(coll, wrote, "writing the shards"));
  absl::Status published;
  if (rank == 0) {
    published = [&]() -> absl::Status {
      nlohmann::ordered_json shards = nlohmann::ordered_json::array();
      for (int r = 0; r < world; ++r) {
        const int64_t bytes = FileBytes(JoinPath(partial, ShardFile(r, world)));
        if (bytes < 0) {
          return absl::FailedPreconditionError(
              absl::StrCat("rank ", r, "'s shard ", ShardFile(r, world), " is not in ", partial,
                           ": sharded checkpoints need one --out shared by every rank"));
        }
        shards.push_back({{"rank", r}, {"file", ShardFile(r, world)}, {"bytes", bytes}});
      }
      nlohmann::ordered_json m;
      m["format"] = kFormat;
      m["world_size"] = world;
      m["sharding"] = ShardingModeName(c.mode);
      m["units"] = LayoutJson(*c.layout);
      m["shards"] = shards;
      RETURN_IF_ERROR(WriteFileAtomically(JoinPath(partial, kManifest), m.dump(1) + "\n"));
      RETURN_IF_ERROR(WriteFileAtomically(JoinPath(partial, "config.json"), ModelConfigToJson(*c.config)));
      if (!c.tokenizer_dir.empty()) RETURN_IF_ERROR(CopyTokenizerFiles(c.tokenizer_dir, partial));
      return PublishCheckpoint(checkpoints_dir, c.state, keep);
    }();
  }
  return Agree(coll, published, "publishing the checkpoint");
}

absl::StatusOr<LoadedShard> LoadShardedState(const std::string& dir, const std::vector<FlatUnitLayout>& layout,
                                             int rank, int world) {
  const std::string path = JoinPath(dir, kManifest);
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, int64_t{1} << 28));
  const auto m = nlohmann::json::parse(text, nullptr, false);
  auto bad = [&](const std::string& why) { return absl::DataLossError(absl::StrCat(path, ": ", why)); };
  if (m.is_discarded() || !m.is_object()) return bad("not valid JSON");
  if (!m.contains("format") || m["format"] != kFormat) return bad(absl::StrCat("\"format\" must be \"", kFormat, "\""));
  if (!m.contains("world_size") || !m["world_size"].is_number_integer() || m["world_size"].get<int64_t>() < 1) {
    return bad("\"world_size\" must be an integer >= 1");
  }
  LoadedShard out;
  out.saved_world_size = m["world_size"].get<int>();
  const int old_world = out.saved_world_size;
  if (m.contains("sharding") && m["sharding"].is_string()) {
    auto mode = ParseShardingMode(m["sharding"].get<std::string>(), path + ": \"sharding\"");
    if (!mode.ok()) return mode.status();
    out.saved_mode = *mode;
  }
  // The model against the manifest, before any tensor is read.
  if (!m.contains("units") || !m["units"].is_array() || m["units"].size() != layout.size()) {
    return bad(absl::StrCat("\"units\" must list the model's ", layout.size(), " units (its layers and the root)"));
  }
  std::vector<int64_t> old_padded(layout.size());
  for (size_t u = 0; u < layout.size(); ++u) {
    const auto& j = m["units"][u];
    const std::string where = absl::StrCat("units[", u, "]");
    if (!j.is_object() || !j.contains("name") || j["name"] != layout[u].name || !j.contains("numel") ||
        !j["numel"].is_number_integer() || j["numel"].get<int64_t>() != layout[u].numel || !j.contains("padded") ||
        !j["padded"].is_number_integer() || !j.contains("params") || !j["params"].is_array() ||
        j["params"].size() != layout[u].params.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": ", where, " does not describe this model's unit ", layout[u].name, " (", layout[u].params.size(),
          " parameters, ", layout[u].numel, " elements); the checkpoint is of another architecture"));
    }
    old_padded[u] = j["padded"].get<int64_t>();
    if (old_padded[u] < layout[u].numel || old_padded[u] % old_world != 0) {
      return bad(absl::StrCat(where, ".padded = ", old_padded[u], " is not a multiple of world_size ", old_world,
                              " at least ", layout[u].numel));
    }
    for (size_t i = 0; i < layout[u].params.size(); ++i) {
      const auto& p = j["params"][i];
      const FlatParam& want = layout[u].params[i];
      if (!p.is_object() || p.value("name", "") != want.name || !p.contains("shape") ||
          p["shape"] != nlohmann::json(want.shape) || !p.contains("offset") || p["offset"] != want.offset) {
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": ", where, ".params[", i, "] is ", p.dump(), " but this model has ", want.name,
                         " of shape ", nlohmann::json(want.shape).dump(), " at offset ", want.offset));
      }
    }
  }
  if (!m.contains("shards") || !m["shards"].is_array() || static_cast<int>(m["shards"].size()) != old_world) {
    return bad(absl::StrCat("\"shards\" must list ", old_world, " files"));
  }
  std::vector<std::string> files(static_cast<size_t>(old_world));
  for (int q = 0; q < old_world; ++q) {
    const auto& s = m["shards"][q];
    if (!s.is_object() || s.value("rank", -1) != q || !s.contains("file") || !s["file"].is_string() ||
        !s.contains("bytes") || !s["bytes"].is_number_integer()) {
      return bad(absl::StrCat("shards[", q, "] must be {\"rank\": ", q, ", \"file\", \"bytes\"}"));
    }
    const std::string file = s["file"].get<std::string>();
    if (file != ShardFile(q, old_world))
      return bad(absl::StrCat("shards[", q, "].file must be ", ShardFile(q, old_world)));
    files[q] = JoinPath(dir, file);
    const int64_t bytes = FileBytes(files[q]);
    if (bytes < 0) {
      return absl::DataLossError(absl::StrCat(files[q], ": missing (rank ", q, "'s shard of ", old_world, ")"));
    }
    if (bytes != s["bytes"].get<int64_t>()) {
      return absl::DataLossError(absl::StrCat(files[q], ": ", bytes, " bytes, but the manifest says ",
                                              s["bytes"].get<int64_t>(), " (truncated or replaced)"));
    }
  }
  // This rank's new shard of each unit, filled from the old shards that
  // overlap it, one file at a time.
  for (size_t u = 0; u < layout.size(); ++u) {
    const int64_t n = layout[u].ShardNumel(world);
    for (const char* prefix : kStateNames) out.tensors[prefix + layout[u].name] = at::zeros({n}, at::kFloat);
  }
  for (int q = 0; q < old_world; ++q) {
    std::optional<SafetensorsFile> file;
    for (size_t u = 0; u < layout.size(); ++u) {
      const int64_t n = layout[u].ShardNumel(world), n0 = old_padded[u] / old_world;
      const int64_t begin = std::max(rank * n, q * n0);
      const int64_t end = std::min({(rank + 1) * n, (q + 1) * n0, layout[u].numel});
      if (begin >= end) continue;
      if (!file) {
        ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open(files[q]));
        file.emplace(std::move(f));
      }
      for (const char* prefix : kStateNames) {
        const std::string name = prefix + layout[u].name;
        const TensorInfo* info = file->Find(name);
        if (info == nullptr) return absl::DataLossError(absl::StrCat(files[q], ": no tensor ", name));
        if (info->dtype != DType::kF32 || info->num_elements() != n0) {
          return absl::DataLossError(absl::StrCat(files[q], ": tensor ", name, " is ", DTypeName(info->dtype), " of ",
                                                  info->num_elements(), " elements, expected F32 of ", n0));
        }
        const float* src = reinterpret_cast<const float*>(file->Data(*info));
        at::Tensor from = at::from_blob(const_cast<float*>(src) + (begin - q * n0), {end - begin}, at::kFloat);
        out.tensors[name].narrow(0, begin - rank * n, end - begin).copy_(from);
      }
    }
    if (q == 0) {
      if (!file) {
        ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open(files[0]));
        file.emplace(std::move(f));
      }
      if (const TensorInfo* rng = file->Find(kRngName); rng != nullptr && rng->dtype == DType::kU8) {
        out.rng_state = at::from_blob(const_cast<uint8_t*>(file->Data(*rng)), {rng->num_elements()}, at::kByte).clone();
      }
    }
  }
  return out;
}

}  // namespace ssd
