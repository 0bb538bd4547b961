#include "common/tokenizer/tokenizer.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/utf8.h"
#include "common/util/file_util.h"
#include "common/util/json.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using json = nlohmann::json;

// Decoders whose effect on ids -> text we implement. ByteLevel maps the
// alphabet back to bytes; the others appear in Sequences of byte-fallback
// tokenizers and are handled by the byte-token path or are no-ops here.
absl::Status CheckDecoder(const json& d, const std::string& where, bool* byte_level) {
  if (d.is_null()) return absl::OkStatus();
  const std::string type = d.is_object() ? d.value("type", std::string()) : std::string();
  if (type == "ByteLevel") {
    *byte_level = true;
    return absl::OkStatus();
  }
  if (type == "Sequence" && d.contains("decoders") && d["decoders"].is_array()) {
    for (const auto& s : d["decoders"]) RETURN_IF_ERROR(CheckDecoder(s, where, byte_level));
    return absl::OkStatus();
  }
  if (type == "ByteFallback" || type == "Fuse") return absl::OkStatus();
  return absl::UnimplementedError(absl::StrCat(where, ": decoder type \"", type,
                                               "\" is not supported (supported: ByteLevel, ByteFallback, "
                                               "Fuse, Sequence)"));
}

// Post-processors only matter when special tokens are added, which Encode()
// never does; still, refuse types we have not reviewed.
absl::Status CheckPostProcessor(const json& p, const std::string& where) {
  if (p.is_null()) return absl::OkStatus();
  const std::string type = p.is_object() ? p.value("type", std::string()) : std::string();
  if (type == "ByteLevel" || type == "TemplateProcessing" || type == "Sequence") return absl::OkStatus();
  return absl::UnimplementedError(absl::StrCat(where, ": post_processor type \"", type, "\" is not supported"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  std::string file = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) file = JoinPath(path, "tokenizer.json");
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(file, size_t{512} << 20));
  return FromJson(text, file);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(absl::string_view json_text, const std::string& where) {
  json j;
  {
    absl::StatusOr<json> parsed = ParseJson<json>(json_text);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", parsed.status().message()));
    j = std::move(*parsed);
  }
  if (!j.is_object() || !j.contains("model")) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": expected an object with a \"model\""));
  }
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  try {
    ASSIGN_OR_RETURN(t->added_, AddedVocabulary::FromJson(j.value("added_tokens", json()), where));
    ASSIGN_OR_RETURN(t->normalizer_, NormalizerFromJson(j.value("normalizer", json()), where));
    ASSIGN_OR_RETURN(t->pre_tokenizer_, PreTokenizerFromJson(j.value("pre_tokenizer", json()), where));
    ASSIGN_OR_RETURN(t->model_, BpeModel::FromJson(j["model"], where));
    RETURN_IF_ERROR(CheckDecoder(j.value("decoder", json()), where, &t->byte_level_decoder_));
    RETURN_IF_ERROR(CheckPostProcessor(j.value("post_processor", json()), where));
  } catch (const json::exception& e) {
    // A field of an unexpected JSON type somewhere deep in the file.
    return absl::InvalidArgumentError(absl::StrCat(where, ": unexpected structure: ", e.what()));
  }
  t->vocab_size_ = t->model_->vocab_size();
  for (const AddedToken& a : t->added_.tokens()) t->vocab_size_ = std::max(t->vocab_size_, a.id + 1);
  return t;
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(absl::string_view text, const EncodeOptions& options) const {
  const size_t bad = FindInvalidUtf8(text);
  if (bad != kValidUtf8) {
    return absl::InvalidArgumentError(absl::StrCat("text is not valid UTF-8 at byte ", bad));
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3);
  std::string normalized;
  for (const AddedVocabulary::Segment& seg : added_.Split(text, options.allow_special)) {
    if (seg.token_id >= 0) {
      ids.push_back(seg.token_id);
      continue;
    }
    absl::string_view plain = seg.text;
    if (normalizer_) {
      normalized = normalizer_->Normalize(seg.text);
      plain = normalized;
    }
    auto encode_piece = [&](absl::string_view piece) { model_->Encode(piece, &ids); };
    if (pre_tokenizer_) {
      RETURN_IF_ERROR(pre_tokenizer_->Split(plain, encode_piece));
    } else {
      encode_piece(plain);
    }
  }
  return ids;
}

absl::StatusOr<std::string> Tokenizer::TokenBytes(int32_t id) const {
  if (const AddedToken* a = added_.Find(id)) return a->content;
  const std::string* tok = model_->IdToToken(id);
  if (tok == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("token id ", id, " is not in the vocabulary (size ", vocab_size_, ")"));
  }
  std::string out;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  // "<0xAB>" (byte fallback); a token that only looks like one ("<0xZZ>")
  // is its own text.
  if (model_->byte_fallback() && tok->size() == 6 && tok->compare(0, 3, "<0x") == 0 && (*tok)[5] == '>' &&
      hex((*tok)[3]) >= 0 && hex((*tok)[4]) >= 0) {
    out.push_back(static_cast<char>(hex((*tok)[3]) * 16 + hex((*tok)[4])));
  } else if (byte_level_decoder_) {
    ByteLevelToBytes(*tok, &out);
  } else {
    out = *tok;
  }
  return out;
}

absl::StatusOr<std::string> Tokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    const AddedToken* a = added_.Find(ids[i]);
    if (a != nullptr && a->special && skip_special) continue;
    auto piece = TokenBytes(ids[i]);
    if (!piece.ok()) return absl::InvalidArgumentError(absl::StrCat("ids[", i, "]: ", piece.status().message()));
    bytes += *piece;
  }
  return Utf8Lossy(bytes);
}

std::string CleanUpTokenizationSpaces(absl::string_view text) {
  // Applied in this order, each to the result of the previous, as
  // transformers does.
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
  };
  std::string out(text);
  for (const auto& [from, to] : kRules) out = absl::StrReplaceAll(out, {{from, to}});
  return out;
}

std::optional<int32_t> Tokenizer::TokenToId(absl::string_view token) const {
  if (const AddedToken* a = added_.FindContent(token)) return a->id;
  return model_->TokenToId(token);
}

}  // namespace ssd
