#include "common/tokenizer/added_vocabulary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

bool IsWordByte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// Length of the run of Unicode whitespace ending at `end` / starting at `begin`.
size_t WhitespaceBefore(absl::string_view text, size_t end, size_t floor) {
  size_t start = end;
  while (start > floor) {
    size_t k = start - 1;
    while (k > floor && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
    size_t j = k;
    if (!IsUnicodeWhitespace(NextCodePoint(text, &j))) break;
    start = k;
  }
  return end - start;
}

size_t WhitespaceAfter(absl::string_view text, size_t begin) {
  size_t i = begin;
  while (i < text.size()) {
    size_t j = i;
    if (!IsUnicodeWhitespace(NextCodePoint(text, &j))) break;
    i = j;
  }
  return i - begin;
}

}  // namespace

absl::StatusOr<AddedVocabulary> AddedVocabulary::FromJson(const nlohmann::json& added, const std::string& where) {
  AddedVocabulary v;
  v.by_first_byte_.resize(256);
  if (added.is_null()) return v;
  if (!added.is_array()) return absl::InvalidArgumentError(absl::StrCat(where, ": added_tokens must be an array"));
  for (size_t i = 0; i < added.size(); ++i) {
    const auto& t = added[i];
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
        !t["content"].is_string() || t["id"].get<int64_t>() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": added_tokens[", i, "] needs a non-negative integer \"id\" and a string \"content\""));
    }
    AddedToken a;
    a.id = static_cast<int32_t>(t["id"].get<int64_t>());
    a.content = t["content"].get<std::string>();
    if (a.content.empty() || FindInvalidUtf8(a.content) != kValidUtf8) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": added_tokens[", i, "] content is empty or not UTF-8"));
    }
    a.single_word = t.value("single_word", false);
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.normalized = t.value("normalized", !t.value("special", false));
    a.special = t.value("special", false);
    v.tokens_.push_back(std::move(a));
  }
  for (size_t i = 0; i < v.tokens_.size(); ++i) {
    v.by_first_byte_[static_cast<unsigned char>(v.tokens_[i].content[0])].push_back(static_cast<int>(i));
    v.by_id_.emplace(v.tokens_[i].id, i);
    v.by_content_.emplace(v.tokens_[i].content, i);
  }
  for (auto& list : v.by_first_byte_) {
    std::stable_sort(list.begin(), list.end(),
                     [&](int a, int b) { return v.tokens_[a].content.size() > v.tokens_[b].content.size(); });
  }
  return v;
}

const AddedToken* AddedVocabulary::Find(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::FindContent(absl::string_view content) const {
  auto it = by_content_.find(content);
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

std::vector<AddedVocabulary::Segment> AddedVocabulary::Split(absl::string_view text, bool allow_special) const {
  std::vector<Segment> out;
  size_t plain_start = 0;  // start of the pending plain-text segment
  size_t i = 0;
  while (i < text.size()) {
    const AddedToken* hit = nullptr;
    for (int idx : by_first_byte_[static_cast<unsigned char>(text[i])]) {
      const AddedToken& t = tokens_[idx];
      if (t.special && !allow_special) continue;
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word) {
        const bool left_ok = i == 0 || !IsWordByte(static_cast<unsigned char>(text[i - 1]));
        const size_t e = i + t.content.size();
        const bool right_ok = e >= text.size() || !IsWordByte(static_cast<unsigned char>(text[e]));
        if (!left_ok || !right_ok) continue;
      }
      hit = &t;
      break;  // longest first
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    size_t begin = i, end = i + hit->content.size();
    if (hit->lstrip) begin -= WhitespaceBefore(text, begin, plain_start);
    if (hit->rstrip) end += WhitespaceAfter(text, end);
    if (begin > plain_start) out.push_back({text.substr(plain_start, begin - plain_start), -1});
    out.push_back({text.substr(begin, end - begin), hit->id});
    plain_start = i = end;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
  return out;
}

}  // namespace ssd
