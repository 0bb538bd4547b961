// Byte-pair-encoding model of a Hugging Face tokenizer.json ("type": "BPE").
//
// Encode() turns one pre-tokenized piece into ids: with ignore_merges a piece
// that is itself a vocabulary entry becomes that one token (Llama-3);
// otherwise the piece starts as one symbol per character and the adjacent
// pair with the lowest merge rank is merged until none is left. Characters
// missing from the vocabulary become <0xXX> byte tokens (byte_fallback), the
// unk token, or are dropped, in that order of preference, as the reference
// does. Merges are read in either format ("a b" strings or ["a", "b"]).
//
// Thread-safe: each thread keeps its own cache of encoded words (no lock on
// the hot path); a thread that alternates between models rebuilds it.
#ifndef SSD_COMMON_TOKENIZER_BPE_MODEL_H_
#define SSD_COMMON_TOKENIZER_BPE_MODEL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace ssd {

class BpeModel {
 public:
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const nlohmann::json& model, const std::string& where);

  void Encode(absl::string_view piece, std::vector<int32_t>* ids) const;

  // Vocabulary lookups; nullopt / nullptr when absent.
  std::optional<int32_t> TokenToId(absl::string_view token) const;
  const std::string* IdToToken(int32_t id) const;
  int32_t vocab_size() const { return static_cast<int32_t>(id_to_token_.size()); }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  BpeModel() = default;
  void EncodeUncached(absl::string_view piece, std::vector<int32_t>* ids) const;

  absl::flat_hash_map<std::string, int32_t> vocab_;  // looked up by string_view
  std::vector<std::string> id_to_token_;             // dense up to the largest id
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  absl::flat_hash_map<uint64_t, Merge> merges_;  // (left id << 32 | right id)
  std::optional<int32_t> unk_id_;
  bool ignore_merges_ = false;
  bool byte_fallback_ = false;
  int32_t byte_ids_[256];  // <0xXX> tokens when byte_fallback, else -1

  uint64_t cache_owner_id_ = 0;  // distinguishes this model in thread caches
};

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_BPE_MODEL_H_
