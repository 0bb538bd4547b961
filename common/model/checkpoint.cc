#include "common/model/checkpoint.h"

#include <ATen/ATen.h>
#include <glog/logging.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/model/checkpoint_files.h"
#include "common/model/weight_layout.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

const char* TorchDtypeName(DType d) {
  switch (d) {
    case DType::kBF16: return "bfloat16";
    case DType::kF16: return "float16";
    default: return "float32";
  }
}

}  // namespace

absl::StatusOr<at::ScalarType> ToScalarType(DType dtype) {
  switch (dtype) {
    case DType::kF32: return at::kFloat;
    case DType::kBF16: return at::kBFloat16;
    case DType::kF16: return at::kHalf;
    case DType::kF64: return at::kDouble;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("dtype ", DTypeName(dtype), " is not a floating type usable for weights"));
  }
}

absl::StatusOr<std::map<std::string, at::Tensor>> LoadHfWeights(const std::string& model_dir, const ModelConfig& config,
                                                                at::ScalarType dtype, at::Device device) {
  ASSIGN_OR_RETURN(CheckpointFiles files, CheckpointFiles::Open(model_dir));
  // A MoE layer's experts may be stored per expert or fused (weight_layout.h).
  const std::vector<WeightSpec> expected =
      ExpectedWeightsIn(config, [&files](const std::string& name) { return files.Find(name).file != nullptr; });

  // Validate everything first, so a bad checkpoint fails before any copy.
  std::vector<CheckpointFiles::Located> located;
  located.reserve(expected.size());
  for (const WeightSpec& spec : expected) {
    CheckpointFiles::Located loc = files.Find(spec.name);
    if (loc.file == nullptr) {
      return absl::NotFoundError(absl::StrCat(model_dir, ": missing tensor \"", spec.name, "\" (expected shape ",
                                              ShapeToString(spec.shape), " for model_type ", ModelTypeName(config.arch),
                                              ")"));
    }
    if (loc.info->shape != spec.shape && spec.shape.size() == 3 &&
        (loc.info->shape.empty() || loc.info->shape[0] != spec.shape[0])) {
      return absl::InvalidArgumentError(absl::StrCat(
          loc.file->path(), ": fused expert tensor \"", spec.name, "\" has shape ", ShapeToString(loc.info->shape),
          "; its first dimension must be num_experts = ", spec.shape[0], " (config.json implies ",
          ShapeToString(spec.shape), ")"));
    }
    if (loc.info->shape != spec.shape) {
      return absl::InvalidArgumentError(absl::StrCat(loc.file->path(), ": tensor \"", spec.name, "\" has shape ",
                                                     ShapeToString(loc.info->shape), " but config.json implies ",
                                                     ShapeToString(spec.shape)));
    }
    DType d = loc.info->dtype;
    if (d != DType::kF32 && d != DType::kBF16 && d != DType::kF16) {
      return absl::InvalidArgumentError(absl::StrCat(loc.file->path(), ": tensor \"", spec.name, "\" has dtype ",
                                                     DTypeName(d), "; weights must be F32, BF16 or F16"));
    }
    located.push_back(loc);
  }
  std::map<std::string, bool> wanted;
  for (const WeightSpec& spec : expected) wanted[spec.name] = true;
  for (const std::string& name : files.TensorNames()) {
    if (!wanted.count(name) && !IsIgnorableExtraWeight(config, name)) {
      LOG(WARNING) << model_dir << ": ignoring unexpected tensor \"" << name << "\"";
    }
  }

  std::map<std::string, at::Tensor> out;
  for (size_t i = 0; i < expected.size(); ++i) {
    const TensorInfo& info = *located[i].info;
    ASSIGN_OR_RETURN(at::ScalarType src_type, ToScalarType(info.dtype));
    const uint8_t* src = located[i].file->Data(info);
    at::Tensor t;
    if (reinterpret_cast<uintptr_t>(src) % DTypeSize(info.dtype) == 0) {
      // from_blob never writes: the const_cast only satisfies its signature.
      t = at::from_blob(const_cast<uint8_t*>(src), info.shape, at::TensorOptions().dtype(src_type))
              .to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
    } else {
      // A misaligned tensor (legal in the format) is first copied to aligned memory.
      at::Tensor aligned = at::empty(info.shape, at::TensorOptions().dtype(src_type));
      std::memcpy(aligned.data_ptr(), src, info.num_bytes());
      t = aligned.to(device, dtype, false, true);
    }
    out.emplace(expected[i].name, std::move(t));
  }
  return out;
}

absl::StatusOr<HfCheckpointWriter> HfCheckpointWriter::Open(const std::string& dir, const ModelConfig& config,
                                                            int parts, DType dtype, bool indexed) {
  RETURN_IF_ERROR(ToScalarType(dtype).status());
  if (dtype == DType::kF64) return absl::InvalidArgumentError("HfCheckpointWriter: dtype must be F32, BF16 or F16");
  if (parts < 1) return absl::InvalidArgumentError(absl::StrCat("HfCheckpointWriter: parts must be >= 1, got ", parts));
  RETURN_IF_ERROR(MakeDirs(dir));
  HfCheckpointWriter w;
  w.dir_ = dir;
  w.config_ = config;
  w.config_.torch_dtype = TorchDtypeName(dtype);
  w.parts_ = parts;
  w.dtype_ = dtype;
  w.indexed_ = indexed || parts > 1;
  return w;
}

absl::Status HfCheckpointWriter::WritePart(const NamedTensors& tensors) {
  if (written_ >= parts_) {
    return absl::FailedPreconditionError(absl::StrCat(dir_, ": more than the ", parts_, " parts announced"));
  }
  ASSIGN_OR_RETURN(at::ScalarType save_type, ToScalarType(dtype_));
  const std::string file = indexed_ ? absl::StrFormat("model-%05d-of-%05d.safetensors", written_ + 1, parts_)
                                    : std::string(kSingleWeightsFile);
  std::vector<at::Tensor> keep_alive;
  std::vector<TensorToWrite> to_write;
  for (const auto& [name, tensor] : tensors) {
    at::Tensor t = tensor.detach().to(at::kCPU, save_type).contiguous();
    to_write.push_back({name, dtype_, std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr()});
    total_bytes_ += static_cast<uint64_t>(t.numel()) * DTypeSize(dtype_);
    keep_alive.push_back(std::move(t));
    weight_map_[name] = file;
  }
  RETURN_IF_ERROR(WriteSafetensors(JoinPath(dir_, file), to_write, {{"format", "pt"}}));
  ++written_;
  return absl::OkStatus();
}

absl::Status HfCheckpointWriter::Finish() {
  if (written_ != parts_) {
    return absl::FailedPreconditionError(absl::StrCat(dir_, ": ", written_, " of ", parts_, " parts written"));
  }
  if (indexed_) {
    nlohmann::json index = {{"metadata", {{"total_size", total_bytes_}}}, {"weight_map", weight_map_}};
    RETURN_IF_ERROR(WriteFileAtomically(JoinPath(dir_, kWeightsIndexFile), index.dump(2) + "\n"));
    std::remove(JoinPath(dir_, kSingleWeightsFile).c_str());
  } else {
    std::remove(JoinPath(dir_, kWeightsIndexFile).c_str());
  }
  return WriteFileAtomically(JoinPath(dir_, "config.json"), ModelConfigToJson(config_));
}

absl::Status SaveHfCheckpoint(const std::string& dir, const ModelConfig& config, const NamedTensors& tensors,
                              const SaveOptions& options) {
  // Group tensors into shards, in order.
  std::vector<NamedTensors> shards(1);
  uint64_t shard_bytes = 0;
  for (const auto& named : tensors) {
    uint64_t bytes = static_cast<uint64_t>(named.second.numel()) * DTypeSize(options.dtype);
    if (options.max_shard_bytes > 0 && !shards.back().empty() && shard_bytes + bytes > options.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(named);
    shard_bytes += bytes;
  }
  // A limit always writes an index, even for one shard.
  ASSIGN_OR_RETURN(HfCheckpointWriter writer, HfCheckpointWriter::Open(dir, config, static_cast<int>(shards.size()),
                                                                       options.dtype, options.max_shard_bytes > 0));
  for (const NamedTensors& shard : shards) RETURN_IF_ERROR(writer.WritePart(shard));
  return writer.Finish();
}

}  // namespace ssd
