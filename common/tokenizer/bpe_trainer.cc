#include "common/tokenizer/bpe_trainer.h"

#include <queue>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/pre_tokenizer.h"
#include "common/tokenizer/utf8.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using Json = nlohmann::ordered_json;

// Qwen2's pre-tokenizer pattern.
constexpr char kSplitPattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr char kChatMlTemplate[] =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

Json PreTokenizerSpec() {
  return Json{
      {"type", "Sequence"},
      {"pretokenizers",
       Json::array(
           {Json{{"type", "Split"},
                 {"pattern", {{"Regex", kSplitPattern}}},
                 {"behavior", "Isolated"},
                 {"invert", false}},
            Json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}})}};
}

uint64_t Key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

absl::Status BpeTrainerOptions::Validate() const {
  const int64_t floor = 256 + static_cast<int64_t>(special_tokens.size());
  if (vocab_size < floor) {
    return absl::InvalidArgumentError(absl::StrCat("--vocab-size ", vocab_size, " is below ", floor, " (256 bytes + ",
                                                   special_tokens.size(), " special tokens)"));
  }
  if (vocab_size > (int64_t{1} << 24)) return absl::InvalidArgumentError("--vocab-size is too large");
  if (min_frequency < 1) return absl::InvalidArgumentError("--min-frequency must be >= 1");
  absl::flat_hash_set<std::string> seen;
  for (const std::string& s : special_tokens) {
    if (s.empty() || FindInvalidUtf8(s) != kValidUtf8 || !seen.insert(s).second) {
      return absl::InvalidArgumentError(absl::StrCat("special token \"", s, "\" is empty, not UTF-8 or repeated"));
    }
  }
  return absl::OkStatus();
}

absl::Status TrainBpeTokenizer(absl::string_view corpus, const BpeTrainerOptions& options, const std::string& out_dir) {
  RETURN_IF_ERROR(options.Validate());
  const size_t bad = FindInvalidUtf8(corpus);
  if (bad != kValidUtf8) {
    return absl::InvalidArgumentError(absl::StrCat("corpus is not valid UTF-8 at byte ", bad));
  }
  ASSIGN_OR_RETURN(auto pre, PreTokenizerFromJson(nlohmann::json::parse(PreTokenizerSpec().dump()), "trainer"));

  // Byte alphabet: id b is the byte-level form of byte b.
  std::vector<std::string> tokens(256);
  absl::flat_hash_map<std::string, int32_t> alphabet;
  for (int b = 0; b < 256; ++b) {
    BytesToByteLevel(std::string(1, static_cast<char>(b)), &tokens[b]);
    alphabet[tokens[b]] = b;
  }

  // Count the pre-tokenized words.
  absl::flat_hash_map<std::string, int64_t> word_counts;
  RETURN_IF_ERROR(pre->Split(corpus, [&](absl::string_view piece) { ++word_counts[piece]; }));
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> counts;
  words.reserve(word_counts.size());
  for (const auto& [w, c] : word_counts) {
    std::vector<int32_t> syms;
    size_t i = 0;
    while (i < w.size()) {
      const size_t start = i;
      NextCodePoint(w, &i);
      syms.push_back(alphabet.at(w.substr(start, i - start)));
    }
    words.push_back(std::move(syms));
    counts.push_back(c);
  }

  absl::flat_hash_map<uint64_t, int64_t> pair_count;
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<int32_t>> pair_words;
  // Adds (sign +1) or removes (-1) the pairs of word w; records the keys.
  auto add_pairs = [&](int32_t w, int64_t sign, absl::flat_hash_set<uint64_t>* keys) {
    const auto& s = words[w];
    for (size_t k = 0; k + 1 < s.size(); ++k) {
      const uint64_t key = Key(s[k], s[k + 1]);
      pair_count[key] += sign * counts[w];
      if (sign > 0) pair_words[key].insert(w);
      if (keys) keys->insert(key);
    }
  };
  for (int32_t w = 0; w < static_cast<int32_t>(words.size()); ++w) add_pairs(w, +1, nullptr);

  // Max-heap of (count, -key) with lazy invalidation.
  using Entry = std::pair<int64_t, int64_t>;  // count, negated key for ties
  std::priority_queue<Entry> heap;
  for (const auto& [key, c] : pair_count) heap.push({c, -static_cast<int64_t>(key)});

  Json merges = Json::array();
  const int64_t target = options.vocab_size - static_cast<int64_t>(options.special_tokens.size());
  absl::flat_hash_map<std::string, int32_t> vocab_index(alphabet.begin(), alphabet.end());
  while (static_cast<int64_t>(tokens.size()) < target && !heap.empty()) {
    const auto [c, neg_key] = heap.top();
    heap.pop();
    const uint64_t key = static_cast<uint64_t>(-neg_key);
    auto it = pair_count.find(key);
    if (it == pair_count.end() || it->second != c) continue;  // stale entry
    if (c < options.min_frequency) break;
    const int32_t left = static_cast<int32_t>(key >> 32), right = static_cast<int32_t>(key & 0xFFFFFFFF);
    const std::string merged = tokens[left] + tokens[right];
    if (vocab_index.contains(merged)) {
      // Two different pairs spelling the same string: BPE keeps one id.
      pair_count.erase(it);
      continue;
    }
    const int32_t id = static_cast<int32_t>(tokens.size());
    tokens.push_back(merged);
    vocab_index[merged] = id;
    merges.push_back(Json::array({tokens[left], tokens[right]}));

    const absl::flat_hash_set<int32_t> affected = std::move(pair_words[key]);
    pair_words.erase(key);
    absl::flat_hash_set<uint64_t> touched;
    for (int32_t w : affected) {
      add_pairs(w, -1, &touched);
      auto& s = words[w];
      std::vector<int32_t> out;
      out.reserve(s.size());
      for (size_t k = 0; k < s.size(); ++k) {
        if (k + 1 < s.size() && s[k] == left && s[k + 1] == right) {
          out.push_back(id);
          ++k;
        } else {
          out.push_back(s[k]);
        }
      }
      s = std::move(out);
      add_pairs(w, +1, &touched);
    }
    pair_count.erase(key);
    // Re-queue changed counts; pairs that no longer occur leave the table.
    for (uint64_t t : touched) {
      auto pc = pair_count.find(t);
      if (pc == pair_count.end()) continue;
      if (pc->second <= 0) {
        pair_count.erase(pc);
      } else {
        heap.push({pc->second, -static_cast<int64_t>(t)});
      }
    }
  }

  Json vocab = Json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = static_cast<int64_t>(i);
  Json added = Json::array();
  Json added_decoder = Json::object();
  for (size_t k = 0; k < options.special_tokens.size(); ++k) {
    const int64_t id = static_cast<int64_t>(tokens.size() + k);
    Json t = {{"id", id},
              {"content", options.special_tokens[k]},
              {"single_word", false},
              {"lstrip", false},
              {"rstrip", false},
              {"normalized", false},
              {"special", true}};
    added.push_back(t);
    Json d = t;
    d.erase("id");
    added_decoder[std::to_string(id)] = d;
  }
  const Json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  Json tok = {{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", added},
              {"normalizer", nullptr},
              {"pre_tokenizer", PreTokenizerSpec()},
              {"post_processor", byte_level},
              {"decoder", byte_level},
              {"model",
               {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", merges}}}};
  auto has = [&](const char* s) {
    return std::find(options.special_tokens.begin(), options.special_tokens.end(), s) != options.special_tokens.end();
  };
  Json config = {{"add_bos_token", false},
                 {"add_prefix_space", false},
                 {"added_tokens_decoder", added_decoder},
                 {"bos_token", nullptr},
                 {"chat_template", kChatMlTemplate},
                 {"clean_up_tokenization_spaces", false},
                 {"eos_token", has("<|im_end|>") ? Json("<|im_end|>") : Json(nullptr)},
                 {"pad_token", has("<|endoftext|>") ? Json("<|endoftext|>") : Json(nullptr)},
                 {"model_max_length", 32768},
                 {"tokenizer_class", "PreTrainedTokenizerFast"},
                 {"unk_token", nullptr}};
  RETURN_IF_ERROR(MakeDirs(out_dir));
  RETURN_IF_ERROR(WriteFileAtomically(JoinPath(out_dir, "tokenizer.json"), tok.dump(2) + "\n"));
  return WriteFileAtomically(JoinPath(out_dir, "tokenizer_config.json"), config.dump(2) + "\n");
}

}  // namespace ssd
