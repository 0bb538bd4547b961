#include "common/tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

class NfcNormalizer : public Normalizer {
 public:
  std::string Normalize(absl::string_view text) const override {
    // ASCII neither decomposes nor composes with what precedes it, so only
    // the non-ASCII runs (with the one character before each, which a
    // combining mark may compose with) go through utf8proc.
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
      size_t run = i;
      while (run < text.size() && static_cast<unsigned char>(text[run]) < 0x80) ++run;
      if (run == text.size()) {
        out.append(text.data() + i, run - i);
        break;
      }
      // text[run] starts a non-ASCII run; keep the ASCII char before it with it.
      const size_t chunk_begin = run > i ? run - 1 : run;
      out.append(text.data() + i, chunk_begin - i);
      size_t end = run;
      while (end < text.size() && static_cast<unsigned char>(text[end]) >= 0x80) ++end;
      AppendNfc(text.substr(chunk_begin, end - chunk_begin), &out);
      i = end;
    }
    return out;
  }

 private:
  static void AppendNfc(absl::string_view chunk, std::string* out) {
    utf8proc_uint8_t* mapped = nullptr;
    utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(chunk.data()),
                                      static_cast<utf8proc_ssize_t>(chunk.size()), &mapped,
                                      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n < 0) {  // input was validated; cannot happen
      out->append(chunk.data(), chunk.size());
      return;
    }
    out->append(reinterpret_cast<char*>(mapped), static_cast<size_t>(n));
    std::free(mapped);
  }
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  std::string Normalize(absl::string_view text) const override {
    std::string s(text);
    for (const auto& step : steps_) s = step->Normalize(s);
    return s;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> NormalizerFromJson(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return std::unique_ptr<Normalizer>();
  if (!spec.is_object() || !spec.contains("type") || !spec["type"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": normalizer must be an object with a \"type\""));
  }
  const std::string type = spec["type"].get<std::string>();
  if (type == "NFC") return std::unique_ptr<Normalizer>(new NfcNormalizer());
  if (type == "Sequence") {
    if (!spec.contains("normalizers") || !spec["normalizers"].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": Sequence normalizer needs \"normalizers\""));
    }
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const auto& s : spec["normalizers"]) {
      ASSIGN_OR_RETURN(auto step, NormalizerFromJson(s, where));
      if (step) steps.push_back(std::move(step));
    }
    return std::unique_ptr<Normalizer>(new SequenceNormalizer(std::move(steps)));
  }
  return absl::UnimplementedError(
      absl::StrCat(where, ": normalizer type \"", type, "\" is not supported (supported: NFC, Sequence)"));
}

}  // namespace ssd
