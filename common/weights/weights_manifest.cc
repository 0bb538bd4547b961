#include "common/weights/weights_manifest.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/model/checkpoint_files.h"
#include "common/model/safetensors.h"
#include "common/util/file_util.h"
#include "common/util/mapped_file.h"
#include "common/util/sha256.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

std::string Sha256Of(const uint8_t* data, size_t n) {
  return Sha256(absl::string_view(reinterpret_cast<const char*>(data), n));
}

v1::DType ToProtoDType(DType d) {
  switch (d) {
    case DType::kF64: return v1::DTYPE_F64;
    case DType::kF32: return v1::DTYPE_F32;
    case DType::kF16: return v1::DTYPE_F16;
    case DType::kBF16: return v1::DTYPE_BF16;
    case DType::kI64: return v1::DTYPE_I64;
    case DType::kI32: return v1::DTYPE_I32;
    case DType::kI16: return v1::DTYPE_I16;
    case DType::kI8: return v1::DTYPE_I8;
    case DType::kU8: return v1::DTYPE_U8;
    case DType::kBool: return v1::DTYPE_BOOL;
  }
  return v1::DTYPE_UNSPECIFIED;
}

bool PlainName(const std::string& n) {
  return !n.empty() && n.size() <= 255 && n.find('/') == std::string::npos && n != "." && n != ".." &&
         n.find('\0') == std::string::npos;
}

absl::Status AddFile(const std::string& dir, const std::string& name, v1::WeightsManifest* m) {
  const std::string path = JoinPath(dir, name);
  ASSIGN_OR_RETURN(MappedFile f, MappedFile::Open(path));
  v1::WeightsFile* wf = m->add_files();
  wf->set_name(name);
  wf->set_bytes(static_cast<int64_t>(f.size()));
  const bool safetensors = name.size() > 12 && name.substr(name.size() - 12) == ".safetensors";
  if (!safetensors) {
    wf->set_sha256(Sha256Of(f.data(), f.size()));
  } else {
    ASSIGN_OR_RETURN(SafetensorsFile st, SafetensorsFile::Open(path));
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | f.data()[i];
    const uint64_t data_start = 8 + header_len;
    wf->set_sha256(Sha256Of(f.data(), data_start));
    for (const TensorInfo& t : st.tensors()) {
      v1::TensorDigest* d = wf->add_tensors();
      d->set_name(t.name);
      d->set_dtype(ToProtoDType(t.dtype));
      for (int64_t s : t.shape) d->add_shape(s);
      d->set_begin(static_cast<int64_t>(data_start + t.data_begin));
      d->set_end(static_cast<int64_t>(data_start + t.data_end));
      d->set_sha256(Sha256Of(f.data() + data_start + t.data_begin, t.num_bytes()));
    }
  }
  m->set_total_bytes(m->total_bytes() + wf->bytes());
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& ModelSideFiles() {
  static const std::vector<std::string> kFiles = {"config.json", "generation_config.json", "tokenizer.json",
                                                  "tokenizer_config.json", "special_tokens_map.json"};
  return kFiles;
}

absl::StatusOr<v1::WeightsManifest> BuildManifest(const std::string& dir, const v1::WeightsRef& ref) {
  v1::WeightsManifest m;
  *m.mutable_weights() = ref;
  if (!PathExists(JoinPath(dir, "config.json"))) {
    return absl::NotFoundError(absl::StrCat(dir, " has no config.json: not a model folder"));
  }
  for (const std::string& f : ModelSideFiles()) {
    if (PathExists(JoinPath(dir, f))) RETURN_IF_ERROR(AddFile(dir, f, &m));
  }
  if (PathExists(JoinPath(dir, kWeightsIndexFile))) {
    RETURN_IF_ERROR(AddFile(dir, kWeightsIndexFile, &m));
    ASSIGN_OR_RETURN(CheckpointFiles files, CheckpointFiles::Open(dir));
    for (const auto& f : files.files()) {
      const std::string& p = f->path();
      RETURN_IF_ERROR(AddFile(dir, p.substr(p.rfind('/') + 1), &m));
    }
  } else {
    RETURN_IF_ERROR(AddFile(dir, kSingleWeightsFile, &m));
  }
  return m;
}

absl::Status ValidateManifest(const v1::WeightsManifest& m, int64_t max_total_bytes, int64_t max_tensors) {
  if (m.weights().job_id().empty() || m.weights().version() < 1) {
    return absl::InvalidArgumentError("manifest.weights: needs a job and a version >= 1");
  }
  if (m.files_size() == 0 || m.files_size() > 1000)
    return absl::InvalidArgumentError("manifest.files: 1 to 1000 files");
  std::set<std::string> names;
  int64_t total = 0;
  int64_t tensors = 0;
  bool config = false, weights = false;
  for (int i = 0; i < m.files_size(); ++i) {
    const v1::WeightsFile& f = m.files(i);
    const std::string where = absl::StrCat("manifest.files[", i, "] (", f.name().substr(0, 100), ")");
    if (!PlainName(f.name())) return absl::InvalidArgumentError(absl::StrCat(where, ": not a plain file name"));
    if (!names.insert(f.name()).second) return absl::InvalidArgumentError(absl::StrCat(where, ": listed twice"));
    if (f.bytes() < 0) return absl::InvalidArgumentError(absl::StrCat(where, ": negative size"));
    if (f.bytes() > max_total_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat(where, ": ", f.bytes(), " bytes is more than the receiver's limit of ", max_total_bytes));
    }
    if (f.sha256().size() != 32) return absl::InvalidArgumentError(absl::StrCat(where, ": sha256 is not 32 bytes"));
    config |= f.name() == "config.json";
    weights |= f.name() == kSingleWeightsFile || f.name() == kWeightsIndexFile;
    tensors += f.tensors_size();
    if (tensors > max_tensors) {
      return absl::ResourceExhaustedError(
          absl::StrCat("manifest: more than ", max_tensors, " tensors (the receiver's limit)"));
    }
    // Tensor ranges, in order, inside the file and after the header.
    int64_t cursor = -1;
    for (int t = 0; t < f.tensors_size(); ++t) {
      const v1::TensorDigest& d = f.tensors(t);
      if (d.sha256().size() != 32 || d.begin() < 8 || d.end() < d.begin() || d.end() > f.bytes() ||
          (cursor >= 0 && d.begin() < cursor)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": tensor ", d.name().substr(0, 100), " has a bad digest or byte range"));
      }
      if (d.dtype() == v1::DTYPE_UNSPECIFIED || !v1::DType_IsValid(d.dtype())) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": tensor ", d.name().substr(0, 100), " has no dtype (", d.dtype(), ")"));
      }
      cursor = d.end();
    }
    total += f.bytes();
    if (total > max_total_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("manifest: more than ", max_total_bytes, " bytes of weights (the receiver's limit)"));
    }
  }
  if (!config || !weights) return absl::InvalidArgumentError("manifest.files: needs config.json and the weights");
  if (total != m.total_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest.total_bytes: ", m.total_bytes(), " but the files add up to ", total));
  }
  return absl::OkStatus();
}

absl::Status CheckSameArchitecture(const std::string& base_config_json, const std::string& new_config_json) {
  using Json = nlohmann::json;
  const Json a = Json::parse(base_config_json, nullptr, false);
  const Json b = Json::parse(new_config_json, nullptr, false);
  if (a.is_discarded() || !a.is_object())
    return absl::InvalidArgumentError("the base model's config.json does not parse");
  if (b.is_discarded() || !b.is_object()) return absl::InvalidArgumentError("the pushed config.json does not parse");
  for (const char* k : {"model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                        "num_key_value_heads", "head_dim", "vocab_size", "tie_word_embeddings", "num_experts",
                        "num_experts_per_tok", "moe_intermediate_size", "norm_topk_prob", "decoder_sparse_step",
                        "mlp_only_layers"}) {
    const Json va = a.contains(k) ? a[k] : Json();
    const Json vb = b.contains(k) ? b[k] : Json();
    if (va != vb) {
      return absl::InvalidArgumentError(absl::StrCat("the pushed weights are another architecture: config.json ", k,
                                                     " is ", vb.dump(), ", the job's model has ", va.dump()));
    }
  }
  return absl::OkStatus();
}

std::string HexDigest(const std::string& sha256) { return HexEncode(sha256); }

}  // namespace ssd
