#include "common/tokenizer/bpe_model.h"

#include <atomic>
#include <cstdio>
#include <queue>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

constexpr size_t kMaxCachedWords = 200000;
constexpr size_t kMaxCachedWordBytes = 256;

struct ThreadWordCache {
  uint64_t owner = 0;
  absl::flat_hash_map<std::string, std::vector<int32_t>> words;
};

ThreadWordCache& CacheFor(uint64_t owner) {
  thread_local ThreadWordCache cache;
  if (cache.owner != owner) {
    cache.words.clear();
    cache.owner = owner;
  }
  return cache;
}

std::atomic<uint64_t> next_model_id{1};

uint64_t PairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const nlohmann::json& m, const std::string& where) {
  auto bad = [&](const std::string& what) { return absl::InvalidArgumentError(absl::StrCat(where, ": model.", what)); };
  if (!m.is_object()) return bad("must be an object");
  const std::string type = m.value("type", std::string("BPE"));
  if (type != "BPE") {
    return absl::UnimplementedError(absl::StrCat(where, ": model type \"", type, "\" is not supported (only BPE)"));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = m.find(key);
    if (it != m.end() && it->is_string() && !it->get<std::string>().empty()) {
      return absl::UnimplementedError(
          absl::StrCat(where, ": model.", key, " \"", it->get<std::string>(), "\" is not supported"));
    }
  }
  auto dropout = m.find("dropout");
  if (dropout != m.end() && dropout->is_number() && dropout->get<double>() > 0) {
    return absl::UnimplementedError(absl::StrCat(where, ": BPE dropout is not supported"));
  }
  std::unique_ptr<BpeModel> bpe(new BpeModel());
  bpe->cache_owner_id_ = next_model_id.fetch_add(1);
  auto vocab = m.find("vocab");
  if (vocab == m.end() || !vocab->is_object()) return bad("vocab must be an object of token -> id");
  int32_t max_id = -1;
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > (1 << 30)) {
      return bad(absl::StrCat("vocab[\"", it.key(), "\"] must be a non-negative integer id"));
    }
    const int32_t id = static_cast<int32_t>(it.value().get<int64_t>());
    bpe->vocab_[it.key()] = id;
    max_id = std::max(max_id, id);
  }
  bpe->id_to_token_.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [tok, id] : bpe->vocab_) bpe->id_to_token_[static_cast<size_t>(id)] = tok;

  auto merges = m.find("merges");
  if (merges == m.end() || !merges->is_array()) return bad("merges must be an array");
  int32_t rank = 0;
  for (const auto& entry : *merges) {
    std::string left, right;
    if (entry.is_string()) {  // "a b"
      const std::string s = entry.get<std::string>();
      const size_t space = s.find(' ', 1);
      if (space == std::string::npos) return bad(absl::StrCat("merges[", rank, "] \"", s, "\" is not \"a b\""));
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      return bad(absl::StrCat("merges[", rank, "] must be \"a b\" or [\"a\", \"b\"]"));
    }
    auto l = bpe->vocab_.find(left), r = bpe->vocab_.find(right), res = bpe->vocab_.find(left + right);
    if (l == bpe->vocab_.end() || r == bpe->vocab_.end() || res == bpe->vocab_.end()) {
      return bad(
          absl::StrCat("merges[", rank, "] (\"", left, "\", \"", right, "\") uses a token missing from the vocab"));
    }
    bpe->merges_.emplace(PairKey(l->second, r->second), Merge{rank, res->second});
    ++rank;
  }
  auto unk = m.find("unk_token");
  if (unk != m.end() && unk->is_string()) {
    auto it = bpe->vocab_.find(unk->get<std::string>());
    if (it == bpe->vocab_.end())
      return bad(absl::StrCat("unk_token \"", unk->get<std::string>(), "\" is not in the vocab"));
    bpe->unk_id_ = it->second;
  }
  bpe->ignore_merges_ = m.value("ignore_merges", false);
  bpe->byte_fallback_ = m.value("byte_fallback", false);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto it = bpe->vocab_.find(name);
    bpe->byte_ids_[b] = bpe->byte_fallback_ && it != bpe->vocab_.end() ? it->second : -1;
  }
  return bpe;
}

std::optional<int32_t> BpeModel::TokenToId(absl::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || id_to_token_[id].empty()) return nullptr;
  return &id_to_token_[static_cast<size_t>(id)];
}

void BpeModel::Encode(absl::string_view piece, std::vector<int32_t>* ids) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    auto it = vocab_.find(piece);
    if (it != vocab_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  if (piece.size() > kMaxCachedWordBytes) {
    EncodeUncached(piece, ids);
    return;
  }
  ThreadWordCache& cache = CacheFor(cache_owner_id_);
  auto it = cache.words.find(piece);
  if (it != cache.words.end()) {
    ids->insert(ids->end(), it->second.begin(), it->second.end());
    return;
  }
  std::vector<int32_t> word;
  EncodeUncached(piece, &word);
  ids->insert(ids->end(), word.begin(), word.end());
  if (cache.words.size() >= kMaxCachedWords) cache.words.clear();
  cache.words.emplace(std::string(piece), std::move(word));
}

void BpeModel::EncodeUncached(absl::string_view piece, std::vector<int32_t>* ids) const {
  // Symbols in a doubly linked list; merges come off a min-heap of
  // (rank, position), stale entries are skipped when popped.
  struct Symbol {
    int32_t id;
    int prev, next;
    bool alive;
  };
  std::vector<Symbol> syms;
  size_t i = 0;
  while (i < piece.size()) {
    const size_t start = i;
    NextCodePoint(piece, &i);
    const absl::string_view ch = piece.substr(start, i - start);
    auto it = vocab_.find(ch);
    if (it != vocab_.end()) {
      syms.push_back({it->second, 0, 0, true});
    } else if (byte_fallback_) {
      for (char c : ch) {
        const int32_t b = byte_ids_[static_cast<unsigned char>(c)];
        if (b >= 0) {
          syms.push_back({b, 0, 0, true});
        } else if (unk_id_) {
          syms.push_back({*unk_id_, 0, 0, true});
        }
      }
    } else if (unk_id_) {
      syms.push_back({*unk_id_, 0, 0, true});
    }
  }
  const int n = static_cast<int>(syms.size());
  for (int k = 0; k < n; ++k) {
    syms[k].prev = k - 1;
    syms[k].next = k + 1 < n ? k + 1 : -1;
  }
  struct Candidate {
    int32_t rank;
    int pos;
    int32_t left, right;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push = [&](int pos) {
    const int nx = syms[pos].next;
    if (nx < 0) return;
    auto it = merges_.find(PairKey(syms[pos].id, syms[nx].id));
    if (it != merges_.end()) heap.push({it->second.rank, pos, syms[pos].id, syms[nx].id});
  };
  for (int k = 0; k + 1 < n; ++k) push(k);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& left = syms[c.pos];
    if (!left.alive || left.id != c.left || left.next < 0) continue;
    Symbol& right = syms[left.next];
    if (!right.alive || right.id != c.right) continue;
    left.id = merges_.at(PairKey(c.left, c.right)).result;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.pos;
    if (left.prev >= 0) push(left.prev);
    push(c.pos);
  }
  for (int k = 0; k < n; ++k) {
    if (syms[k].alive) ids->push_back(syms[k].id);
  }
}

}  // namespace ssd
