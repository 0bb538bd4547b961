#include "common/tokenizer/streaming_detokenizer.h"

#include "common/tokenizer/utf8.h"

namespace ssd {

absl::StatusOr<std::string> StreamingDetokenizer::Add(int32_t id) {
  if (skip_special_) {
    const AddedToken* a = tokenizer_.added().Find(id);
    if (a != nullptr && a->special) return std::string();
  }
  auto bytes = tokenizer_.TokenBytes(id);
  if (!bytes.ok()) return bytes.status();
  pending_ += *bytes;
  const size_t hold = IncompleteUtf8Tail(pending_);
  std::string out = Utf8Lossy(absl::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  text_ += out;
  return out;
}

std::string StreamingDetokenizer::Finish() {
  std::string out = Utf8Lossy(pending_);
  pending_.clear();
  text_ += out;
  return out;
}

}  // namespace ssd
