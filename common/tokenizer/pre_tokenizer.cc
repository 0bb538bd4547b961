#include "common/tokenizer/pre_tokenizer.h"

#include "absl/strings/str_cat.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/regex.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

// GPT-2's pattern, which ByteLevel applies itself when use_regex is true.
constexpr char kGpt2Pattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Isolated split: every match and every gap between matches is a piece.
absl::Status SplitIsolated(const Regex& re, std::vector<std::string>* pieces) {
  std::vector<std::string> out;
  std::vector<std::pair<size_t, size_t>> matches;
  for (const std::string& p : *pieces) {
    RETURN_IF_ERROR(re.FindAll(p, &matches));
    size_t last = 0;
    for (const auto& [b, e] : matches) {
      if (b > last) out.push_back(p.substr(last, b - last));
      out.push_back(p.substr(b, e - b));
      last = e;
    }
    if (last < p.size()) out.push_back(p.substr(last));
  }
  *pieces = std::move(out);
  return absl::OkStatus();
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  explicit SplitPreTokenizer(std::unique_ptr<Regex> re) : re_(std::move(re)) {}
  absl::Status Split(std::vector<std::string>* pieces) const override { return SplitIsolated(*re_, pieces); }

 private:
  std::unique_ptr<Regex> re_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::unique_ptr<Regex> re)
      : add_prefix_space_(add_prefix_space), re_(std::move(re)) {}
  absl::Status Split(std::vector<std::string>* pieces) const override {
    // As in Hugging Face, every incoming piece gets the prefix space.
    if (add_prefix_space_) {
      for (std::string& p : *pieces) {
        if (!p.empty() && p[0] != ' ') p.insert(0, 1, ' ');
      }
    }
    if (re_) RETURN_IF_ERROR(SplitIsolated(*re_, pieces));
    for (std::string& p : *pieces) {
      std::string mapped;
      BytesToByteLevel(p, &mapped);
      p = std::move(mapped);
    }
    return absl::OkStatus();
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> re_;  // null when use_regex is false
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  absl::Status Split(std::vector<std::string>* pieces) const override {
    for (const auto& s : steps_) RETURN_IF_ERROR(s->Split(pieces));
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

absl::StatusOr<std::unique_ptr<Regex>> CompileIn(const std::string& where, const std::string& pattern,
                                                 bool literal) {
  auto re = Regex::Compile(pattern, literal);
  if (!re.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": pre_tokenizer: ", re.status().message()));
  return re;
}

bool BoolField(const nlohmann::json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizerFromJson(const nlohmann::json& spec,
                                                                   const std::string& where) {
  if (spec.is_null()) return std::unique_ptr<PreTokenizer>();
  if (!spec.is_object() || !spec.contains("type") || !spec["type"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": pre_tokenizer must be an object with a \"type\""));
  }
  const std::string type = spec["type"].get<std::string>();
  if (type == "Split") {
    const std::string behavior = spec.value("behavior", std::string("Isolated"));
    if (behavior != "Isolated") {
      return absl::UnimplementedError(absl::StrCat(where, ": Split behavior \"", behavior,
                                                   "\" is not supported (supported: Isolated)"));
    }
    if (BoolField(spec, "invert", false)) {
      return absl::UnimplementedError(absl::StrCat(where, ": Split with invert: true is not supported"));
    }
    auto pat = spec.find("pattern");
    if (pat == spec.end() || !pat->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": Split needs a \"pattern\" object"));
    }
    std::unique_ptr<Regex> re;
    if (pat->contains("Regex") && (*pat)["Regex"].is_string()) {
      ASSIGN_OR_RETURN(re, CompileIn(where, (*pat)["Regex"].get<std::string>(), false));
    } else if (pat->contains("String") && (*pat)["String"].is_string()) {
      ASSIGN_OR_RETURN(re, CompileIn(where, (*pat)["String"].get<std::string>(), /*literal=*/true));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(where, ": Split pattern needs \"Regex\" or \"String\""));
    }
    return std::unique_ptr<PreTokenizer>(new SplitPreTokenizer(std::move(re)));
  }
  if (type == "ByteLevel") {
    std::unique_ptr<Regex> re;
    if (BoolField(spec, "use_regex", true)) {
      ASSIGN_OR_RETURN(re, Regex::Compile(kGpt2Pattern));
    }
    return std::unique_ptr<PreTokenizer>(
        new ByteLevelPreTokenizer(BoolField(spec, "add_prefix_space", true), std::move(re)));
  }
  if (type == "Sequence") {
    if (!spec.contains("pretokenizers") || !spec["pretokenizers"].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": Sequence pre_tokenizer needs \"pretokenizers\""));
    }
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (const auto& s : spec["pretokenizers"]) {
      ASSIGN_OR_RETURN(auto step, PreTokenizerFromJson(s, where));
      if (step) steps.push_back(std::move(step));
    }
    return std::unique_ptr<PreTokenizer>(new SequencePreTokenizer(std::move(steps)));
  }
  return absl::UnimplementedError(absl::StrCat(
      where, ": pre_tokenizer type \"", type, "\" is not supported (supported: Split, ByteLevel, Sequence)"));
}

}  // namespace ssd
