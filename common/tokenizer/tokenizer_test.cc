#include "common/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <random>

#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/streaming_detokenizer.h"
#include "common/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using json = nlohmann::json;

// A tiny byte-level BPE: the 256-symbol alphabet plus merges for "ab",
// "abc" and "Ġa" ("Ġ" is the byte-level space), two added tokens.
json TinyTokenizerJson() {
  json vocab = json::object();
  int id = 0;
  for (int b = 0; b < 256; ++b) {
    std::string s;
    BytesToByteLevel(std::string(1, static_cast<char>(b)), &s);
    vocab[s] = id++;
  }
  vocab["ab"] = id++;   // 256
  vocab["abc"] = id++;  // 257
  vocab["Ġa"] = id++;   // 258
  vocab["xyz"] = id++;  // 259: reachable only through ignore_merges
  json j;
  j["added_tokens"] = json::array({
      {{"id", 300},
       {"content", "<|end|>"},
       {"special", true},
       {"lstrip", false},
       {"rstrip", false},
       {"single_word", false},
       {"normalized", false}},
      {{"id", 301},
       {"content", "[T]"},
       {"special", false},
       {"lstrip", true},
       {"rstrip", true},
       {"single_word", false},
       {"normalized", false}},
      {{"id", 302}, {"content", "word"}, {"special", false}, {"single_word", true}, {"normalized", false}},
  });
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers", json::array({{{"type", "Split"},
                                      {"pattern", {{"Regex", R"( ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}}},
                                      {"behavior", "Isolated"},
                                      {"invert", false}},
                                     {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"},
                {"vocab", vocab},
                {"merges", json::array({"a b", json::array({"ab", "c"}), "Ġ a"})},
                {"ignore_merges", false}};
  return j;
}

std::unique_ptr<Tokenizer> Make(const json& j) {
  auto t = Tokenizer::FromJson(j.dump(), "tiny.json");
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : nullptr;
}

std::vector<int32_t> Enc(const Tokenizer& t, const std::string& s, bool special = false) {
  EncodeOptions o;
  o.allow_special = special;
  auto ids = t.Encode(s, o);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

TEST(TokenizerTest, MergesInBothFormatsApplyInRankOrder) {
  auto t = Make(TinyTokenizerJson());
  EXPECT_EQ(Enc(*t, "abc"), (std::vector<int32_t>{257}));
  EXPECT_EQ(Enc(*t, "abcab"), (std::vector<int32_t>{257, 256}));
  EXPECT_EQ(Enc(*t, " a"), (std::vector<int32_t>{258}));
  EXPECT_EQ(Enc(*t, "ba"), (std::vector<int32_t>{'b', 'a'}));
}

TEST(TokenizerTest, IgnoreMergesTakesWholeVocabularyPieces) {
  json j = TinyTokenizerJson();
  EXPECT_EQ(Enc(*Make(j), "xyz"), (std::vector<int32_t>{'x', 'y', 'z'}));
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(Enc(*Make(j), "xyz"), (std::vector<int32_t>{259}));
}

TEST(TokenizerTest, DecodeInvertsEncodeForArbitraryUtf8) {
  auto t = Make(TinyTokenizerJson());
  const std::string text = "héllo wörld 日本語 🙂\n\t  x";
  auto ids = Enc(*t, text);
  auto back = t->Decode(ids);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
}

TEST(TokenizerTest, NfcComposesBeforeTokenizing) {
  auto t = Make(TinyTokenizerJson());
  // "e" + combining acute accent normalizes to the single code point "é".
  EXPECT_EQ(Enc(*t, "e\xCC\x81"), Enc(*t, "\xC3\xA9"));
}

TEST(TokenizerTest, SpecialTokensOnlyWhenAllowed) {
  auto t = Make(TinyTokenizerJson());
  EXPECT_EQ(Enc(*t, "a<|end|>", /*special=*/true), (std::vector<int32_t>{'a', 300}));
  std::vector<int32_t> as_text = Enc(*t, "a<|end|>", false);
  EXPECT_EQ(std::count(as_text.begin(), as_text.end(), 300), 0) << "special token smuggled in via text";
  auto decoded = t->Decode(as_text);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, "a<|end|>");
}

TEST(TokenizerTest, LstripAndRstripAbsorbWhitespace) {
  auto t = Make(TinyTokenizerJson());
  EXPECT_EQ(Enc(*t, "a  [T]  b"), (std::vector<int32_t>{'a', 301, 'b'}));
}

TEST(TokenizerTest, SingleWordTokensNeedWordBoundaries) {
  auto t = Make(TinyTokenizerJson());
  EXPECT_EQ(Enc(*t, "word"), (std::vector<int32_t>{302}));
  std::vector<int32_t> inside = Enc(*t, "swords");
  EXPECT_EQ(std::count(inside.begin(), inside.end(), 302), 0);
}

TEST(TokenizerTest, SkipSpecialDropsOnlySpecialTokens) {
  auto t = Make(TinyTokenizerJson());
  auto s = t->Decode({'a', 300, 301, 'b'}, /*skip_special=*/true);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "a[T]b");
}

TEST(TokenizerTest, InvalidUtf8NamesTheByteOffset) {
  auto t = Make(TinyTokenizerJson());
  auto ids = t->Encode(std::string("ok\xff", 3));
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().message().find("byte 2"), std::string::npos) << ids.status();
}

TEST(TokenizerTest, UnknownIdIsAnErrorNamingThePosition) {
  auto t = Make(TinyTokenizerJson());
  auto s = t->Decode({1, 2, 9999});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("ids[2]"), std::string::npos);
}

TEST(TokenizerTest, ByteFallbackAndUnk) {
  json j;
  j["model"] = {{"type", "BPE"},
                {"vocab", {{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0xA9>", 3}}},
                {"merges", json::array()},
                {"unk_token", "<unk>"},
                {"byte_fallback", true}};
  auto t = Make(j);
  EXPECT_EQ(Enc(*t, "a\xC3\xA9"), (std::vector<int32_t>{1, 2, 3}));  // é via its bytes
  EXPECT_EQ(Enc(*t, "a\xC3\xB1"), (std::vector<int32_t>{1, 2, 0}));  // 0xB1 has no byte token
  auto s = t->Decode({1, 2, 3});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "a\xC3\xA9");
}

void ExpectLoadError(const json& j, const std::string& needle) {
  auto t = Tokenizer::FromJson(j.dump(), "tok.json");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status();
  EXPECT_NE(t.status().message().find("tok.json"), std::string::npos) << t.status();
}

TEST(TokenizerTest, UnsupportedComponentsAreNamedNotIgnored) {
  json j = TinyTokenizerJson();
  j["normalizer"] = {{"type", "Lowercase"}};
  ExpectLoadError(j, "Lowercase");
  j = TinyTokenizerJson();
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  ExpectLoadError(j, "Metaspace");
  j = TinyTokenizerJson();
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "MergedWithPrevious";
  ExpectLoadError(j, "MergedWithPrevious");
  j = TinyTokenizerJson();
  j["model"]["type"] = "Unigram";
  ExpectLoadError(j, "Unigram");
  j = TinyTokenizerJson();
  j["decoder"] = {{"type", "WordPiece"}};
  ExpectLoadError(j, "WordPiece");
}

TEST(TokenizerTest, BrokenFilesGetClearErrors) {
  auto t = Tokenizer::FromJson("{\"model\": ", "tok.json");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("not valid JSON"), std::string::npos);
  json j = TinyTokenizerJson();
  j["model"]["merges"].push_back("q nope");
  ExpectLoadError(j, "merges[3]");
  j = TinyTokenizerJson();
  j["added_tokens"][0]["id"] = "x";
  ExpectLoadError(j, "added_tokens[0]");
  j = TinyTokenizerJson();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  ExpectLoadError(j, "does not compile");
}

TEST(StreamingDetokenizerTest, ConcatenationEqualsWholeDecodeForRandomIds) {
  auto t = Make(TinyTokenizerJson());
  std::mt19937 rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    // Single bytes (ids < 256) split characters everywhere, and random bytes
    // make plenty of ill-formed UTF-8.
    std::vector<int32_t> ids;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>(rng() % 260));
    StreamingDetokenizer stream(*t);
    std::string streamed;
    for (int32_t id : ids) {
      auto piece = stream.Add(id);
      ASSERT_TRUE(piece.ok());
      EXPECT_EQ(FindInvalidUtf8(*piece), kValidUtf8) << "emitted text must be valid UTF-8";
      streamed += *piece;
    }
    streamed += stream.Finish();
    EXPECT_EQ(streamed, *t->Decode(ids)) << "trial " << trial;
    EXPECT_EQ(stream.text(), streamed);
  }
}

TEST(StreamingDetokenizerTest, HoldsBackSplitCharacterUntilComplete) {
  auto t = Make(TinyTokenizerJson());
  // "é" is C3 A9; the byte-level tokens for the two bytes have ids 0xC3, 0xA9
  // only if the alphabet is in byte order, so look them up.
  std::string c3, a9;
  BytesToByteLevel("\xC3", &c3);
  BytesToByteLevel("\xA9", &a9);
  StreamingDetokenizer stream(*t);
  EXPECT_EQ(*stream.Add(*t->TokenToId(c3)), "");
  EXPECT_EQ(*stream.Add(*t->TokenToId(a9)), "\xC3\xA9");
  EXPECT_FALSE(stream.Add(123456).ok());
  EXPECT_EQ(stream.Finish(), "");
}

TEST(Utf8Test, LossyRepairMatchesRustSemantics) {
  EXPECT_EQ(Utf8Lossy("a\xC3"), "a\xEF\xBF\xBD");
  // Maximal subparts: FF is replaced alone, then the stray 80 separately;
  // E6 97 (a valid prefix) is one replacement before "A".
  EXPECT_EQ(Utf8Lossy("\xFF\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(Utf8Lossy("\xE6\x97"
                      "A"),
            "\xEF\xBF\xBD"
            "A");
  EXPECT_EQ(IncompleteUtf8Tail("ab\xE6\x97"), 2u);
  EXPECT_EQ(IncompleteUtf8Tail("ab\xFF"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("\xC3\xA9"), 0u);
  EXPECT_EQ(Utf8Lossy("\xE6\x97\xA5"), "\xE6\x97\xA5");
  EXPECT_EQ(FindInvalidUtf8("\xED\xA0\x80"), 0u);  // surrogate
  EXPECT_EQ(FindInvalidUtf8("ab\xC0\x80"), 2u);    // overlong NUL
}

TEST(TokenizerTest, ANumberOutOfRangeInTokenizerJsonIsAnError) {
  auto t = Tokenizer::FromJson(R"({"model": {"vocab": {"a": 1e999}}})", "big/tokenizer.json");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("big/tokenizer.json: not valid JSON"), std::string::npos) << t.status();
}

}  // namespace
}  // namespace ssd
