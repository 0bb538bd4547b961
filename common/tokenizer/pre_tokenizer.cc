#include "common/tokenizer/pre_tokenizer.h"

#include "absl/strings/str_cat.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/regex.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

// GPT-2's pattern, which ByteLevel applies itself when use_regex is true.
constexpr char kGpt2Pattern[] = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Isolated split: every match and every gap between matches is a piece.
absl::Status SplitIsolated(const Regex& re, absl::string_view text, absl::FunctionRef<void(absl::string_view)> emit) {
  std::vector<std::pair<size_t, size_t>> matches;
  RETURN_IF_ERROR(re.FindAll(text, &matches));
  size_t last = 0;
  for (const auto& [b, e] : matches) {
    if (b > last) emit(text.substr(last, b - last));
    emit(text.substr(b, e - b));
    last = e;
  }
  if (last < text.size()) emit(text.substr(last));
  return absl::OkStatus();
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  explicit SplitPreTokenizer(std::unique_ptr<Regex> re) : re_(std::move(re)) {}
  absl::Status Split(absl::string_view text, absl::FunctionRef<void(absl::string_view)> emit) const override {
    return SplitIsolated(*re_, text, emit);
  }

 private:
  std::unique_ptr<Regex> re_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::unique_ptr<Regex> re)
      : add_prefix_space_(add_prefix_space), re_(std::move(re)) {}
  absl::Status Split(absl::string_view text, absl::FunctionRef<void(absl::string_view)> emit) const override {
    // As in Hugging Face, every incoming piece gets the prefix space.
    std::string prefixed;
    if (add_prefix_space_ && !text.empty() && text[0] != ' ') {
      prefixed = absl::StrCat(" ", text);
      text = prefixed;
    }
    std::string mapped;
    auto map_and_emit = [&](absl::string_view piece) {
      mapped.clear();
      BytesToByteLevel(piece, &mapped);
      emit(mapped);
    };
    if (re_) return SplitIsolated(*re_, text, map_and_emit);
    map_and_emit(text);
    return absl::OkStatus();
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> re_;  // null when use_regex is false
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  absl::Status Split(absl::string_view text, absl::FunctionRef<void(absl::string_view)> emit) const override {
    return Run(0, text, emit);
  }

 private:
  // Feeds every piece of step `i` through the remaining steps.
  absl::Status Run(size_t i, absl::string_view text, absl::FunctionRef<void(absl::string_view)> emit) const {
    if (i == steps_.size()) {
      emit(text);
      return absl::OkStatus();
    }
    absl::Status inner;
    absl::Status outer = steps_[i]->Split(text, [&](absl::string_view piece) {
      if (inner.ok()) inner = Run(i + 1, piece, emit);
    });
    return outer.ok() ? inner : outer;
  }

  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

absl::StatusOr<std::unique_ptr<Regex>> CompileIn(const std::string& where, const std::string& pattern, bool literal) {
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
      return absl::UnimplementedError(
          absl::StrCat(where, ": Split behavior \"", behavior, "\" is not supported (supported: Isolated)"));
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
  return absl::UnimplementedError(absl::StrCat(where, ": pre_tokenizer type \"", type,
                                               "\" is not supported (supported: Split, ByteLevel, Sequence)"));
}

}  // namespace ssd
