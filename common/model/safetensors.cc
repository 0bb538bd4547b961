#include "common/model/safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/json.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using json = nlohmann::json;

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::kF64, "F64", 8}, {DType::kF32, "F32", 4},   {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
    {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},   {DType::kI16, "I16", 2}, {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},   {DType::kBool, "BOOL", 1},
};

uint64_t LoadLE64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

size_t DTypeSize(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.size;
  }
  return 0;
}

absl::string_view DTypeName(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.name;
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  for (const auto& e : kDTypes) {
    if (name == e.name) return e.dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype \"", name, "\""));
}

int64_t TensorInfo::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<std::vector<TensorInfo>> ParseSafetensorsHeader(absl::string_view header_json, uint64_t data_bytes,
                                                               const std::string& path,
                                                               std::map<std::string, std::string>* metadata) {
  // The header starts after its 8-byte length: offsets are the file's.
  absl::StatusOr<json> parsed = ParseJson<json>(header_json, 8);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": safetensors header: ", parsed.status().message()));
  }
  json j = std::move(*parsed);
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": safetensors header must be a JSON object"));
  }
  std::vector<TensorInfo> out;
  out.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": __metadata__ must be an object"));
      }
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ": __metadata__ value for \"", m.key(), "\" must be a string"));
        }
        if (metadata) (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor \"", name, "\": ", what));
    };
    if (!v.is_object()) return bad("entry must be an object");
    TensorInfo info;
    info.name = name;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) return bad("missing string field \"dtype\"");
    auto parsed = ParseDType(dt->get<std::string>());
    if (!parsed.ok()) return bad(parsed.status().message());
    info.dtype = *parsed;
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) return bad("missing array field \"shape\"");
    // Multiply with an overflow guard: a hostile shape must not wrap around to
    // a small byte count that happens to match the range.
    uint64_t bytes = DTypeSize(info.dtype);
    bool overflow = false;
    for (const json& d : *sh) {
      if (!d.is_number_integer() || (d.is_number_integer() && !d.is_number_unsigned() && d.get<int64_t>() < 0)) {
        return bad(absl::StrCat("shape entries must be non-negative integers, got ", sh->dump()));
      }
      uint64_t dim = d.get<uint64_t>();
      if (dim > (uint64_t{1} << 62)) overflow = true;
      info.shape.push_back(static_cast<int64_t>(std::min<uint64_t>(dim, uint64_t{1} << 62)));
      if (dim != 0 && bytes > UINT64_MAX / dim) overflow = true;
      bytes *= dim;
    }
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned()) {
      return bad("\"data_offsets\" must be two non-negative integers [begin, end]");
    }
    info.data_begin = (*off)[0].get<uint64_t>();
    info.data_end = (*off)[1].get<uint64_t>();
    if (info.data_end < info.data_begin) {
      return bad(absl::StrCat("data_offsets end ", info.data_end, " is before begin ", info.data_begin));
    }
    if (info.data_end > data_bytes) {
      return bad(absl::StrCat("data ends at offset ", info.data_end, " (file offset ",
                              8 + header_json.size() + info.data_end, ") but the data section has only ", data_bytes,
                              " bytes; the file is truncated or the header is corrupt"));
    }
    if (overflow || bytes != info.num_bytes()) {
      return bad(absl::StrCat("shape ", sh->dump(), " x ", DTypeName(info.dtype), " needs ",
                              overflow ? std::string("more than 2^64") : absl::StrCat(bytes),
                              " bytes but data_offsets [", info.data_begin, ", ", info.data_end, ") hold ",
                              info.num_bytes()));
    }
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.data_begin != b.data_begin ? a.data_begin < b.data_begin : a.data_end < b.data_end;
  });
  for (size_t i = 1; i < out.size(); ++i) {
    const TensorInfo& prev = out[i - 1];
    const TensorInfo& cur = out[i];
    // Empty tensors occupy no bytes and cannot overlap anything.
    if (cur.num_bytes() > 0 && prev.num_bytes() > 0 && cur.data_begin < prev.data_end) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensors \"", prev.name, "\" [", prev.data_begin, ", ",
                                                     prev.data_end, ") and \"", cur.name, "\" [", cur.data_begin, ", ",
                                                     cur.data_end, ") overlap"));
    }
  }
  return out;
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  SafetensorsFile f;
  ASSIGN_OR_RETURN(f.file_, MappedFile::Open(path));
  const uint64_t size = f.file_.size();
  if (size < 8) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": file has ", size, " bytes, too short for the 8-byte safetensors header length"));
  }
  const uint64_t header_len = LoadLE64(f.file_.data());
  if (header_len > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_len, " exceeds the limit of ",
                                                   kMaxSafetensorsHeaderBytes, " bytes (not a safetensors file?)"));
  }
  if (header_len > size - 8) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_len,
                                                   " runs past the end of the file (", size,
                                                   " bytes); the file is truncated or not safetensors"));
  }
  absl::string_view header(reinterpret_cast<const char*>(f.file_.data() + 8), header_len);
  const uint64_t data_bytes = size - 8 - header_len;
  ASSIGN_OR_RETURN(f.tensors_, ParseSafetensorsHeader(header, data_bytes, path, &f.metadata_));
  f.data_start_ = f.file_.data() + 8 + header_len;
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_[f.tensors_[i].name] = i;
  return f;
}

const TensorInfo* SafetensorsFile::Find(absl::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__") {
      return absl::InvalidArgumentError(absl::StrCat(path, ": invalid tensor name \"", t.name, "\""));
    }
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": duplicate tensor name \"", t.name, "\""));
    }
    uint64_t bytes = DTypeSize(t.dtype);
    for (int64_t d : t.shape) {
      if (d < 0) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": tensor \"", t.name, "\" has a negative dim"));
      }
      bytes *= static_cast<uint64_t>(d);
    }
    header[t.name] = {
        {"dtype", std::string(DTypeName(t.dtype))}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // Pad with spaces so the data section (and each tensor written in order,
  // all of whose sizes are multiples of their element size) starts 8-aligned.
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  uint8_t len_le[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len_le[i] = static_cast<uint8_t>(n >> (8 * i));

  ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::Open(path));
  RETURN_IF_ERROR(writer.Append(len_le, 8));
  RETURN_IF_ERROR(writer.Append(text));
  for (const TensorToWrite& t : tensors) {
    uint64_t bytes = DTypeSize(t.dtype);
    for (int64_t d : t.shape) bytes *= static_cast<uint64_t>(d);
    if (bytes > 0 && t.data == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor \"", t.name, "\" has no data"));
    }
    RETURN_IF_ERROR(writer.Append(t.data, bytes));
  }
  return writer.Commit();
}

}  // namespace ssd
