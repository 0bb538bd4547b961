// `ssd model init --tokenizer`: a model folder with its tokenizer in one
// step, sized to it, ending turns where the tokenizer does, and usable by
// `ssd sample` and `ssd eval` with no further flags.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ModelInitCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new ScopedTempDir("ssd_model_init");
    dir_ = new std::string(tmp_->path());
    std::string corpus;
    for (int i = 0; i < 40; ++i) corpus += "def f(x):\n    return x + " + std::to_string(i) + "\n";
    std::ofstream(*dir_ + "/corpus.txt") << corpus;
    ProcessResult r = RunProcess({SsdBinary(), "tokenizer", "train", "--corpus", *dir_ + "/corpus.txt", "--vocab-size",
                                  "300", "--out", *dir_ + "/tok"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ProcessResult v =
        RunProcess({SsdBinary(), "tokenize", "--tokenizer", *dir_ + "/tok", "--special", "--text", "<|im_end|>"});
    ASSERT_EQ(v.exit_code, 0) << v.err;
    im_end_ = nlohmann::json::parse(v.out)[0].get<int>();
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete tmp_;
  }
  static ProcessResult Init(const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> argv = {SsdBinary(), "model", "init",       "--hidden", "32",    "--layers",       "1",
                                     "--heads",   "2",     "--kv-heads", "1",        "--out", *dir_ + "/" + out};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunProcess(argv);
  }
  static nlohmann::json Config(const std::string& out) {
    return nlohmann::json::parse(Slurp(*dir_ + "/" + out + "/config.json"));
  }
  // Tokens of the tokenizer: its highest id plus one.
  static int TokenizerSize() {
    const nlohmann::json t = nlohmann::json::parse(Slurp(*dir_ + "/tok/tokenizer.json"));
    int top = -1;
    for (const auto& [k, id] : t["model"]["vocab"].items()) top = std::max(top, id.get<int>());
    for (const auto& a : t["added_tokens"]) top = std::max(top, a["id"].get<int>());
    return top + 1;
  }
  static ScopedTempDir* tmp_;
  static std::string* dir_;
  static int im_end_;
};
ScopedTempDir* ModelInitCliTest::tmp_ = nullptr;
std::string* ModelInitCliTest::dir_ = nullptr;
int ModelInitCliTest::im_end_ = -1;

TEST_F(ModelInitCliTest, TokenizerIsCopiedInAndSetsVocabAndEos) {
  ProcessResult r = Init("m", {"--tokenizer", *dir_ + "/tok"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_EQ(Slurp(*dir_ + "/m/" + f), Slurp(*dir_ + "/tok/" + f)) << f;
  }
  const nlohmann::json c = Config("m");
  EXPECT_EQ(c["vocab_size"], TokenizerSize());
  ASSERT_GE(im_end_, 0);
  EXPECT_EQ(c["eos_token_id"], im_end_);

  // The folder is complete: `ssd sample` needs nothing else.
  std::ofstream(*dir_ + "/p.jsonl") << R"({"id": "a", "messages": [{"role": "user", "content": "hi"}]})"
                                    << "\n";
  r = RunProcess({SsdBinary(), "sample", "--model", *dir_ + "/m", "--prompts", *dir_ + "/p.jsonl", "--max-tokens", "4",
                  "--threads", "1", "--quiet", "--out", *dir_ + "/s.jsonl"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(ModelInitCliTest, ExplicitVocabAndEosWinButAVocabTooSmallIsRefused) {
  ProcessResult r = Init("big", {"--tokenizer", *dir_ + "/tok", "--vocab", "512", "--eos-id", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Config("big")["vocab_size"], 512);
  EXPECT_EQ(Config("big")["eos_token_id"], 7);

  r = Init("small", {"--tokenizer", *dir_ + "/tok", "--vocab", "100"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--vocab 100 is smaller than the tokenizer in " + *dir_ + "/tok (" +
                       std::to_string(TokenizerSize()) + " tokens"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(*dir_ + "/small/config.json"));

  r = Init("none", {"--tokenizer", *dir_});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--tokenizer " + *dir_ + " has no tokenizer.json"), std::string::npos) << r.err;
}

TEST_F(ModelInitCliTest, WithoutATokenizerTheOldDefaultsStay) {
  ProcessResult r = Init("plain", {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Config("plain")["vocab_size"], 256);
  EXPECT_FALSE(std::filesystem::exists(*dir_ + "/plain/tokenizer.json"));
}

TEST_F(ModelInitCliTest, ConvertToBf16KeepsConfigAndTokenizerAndTheLogitsWithinBf16Rounding) {
  ASSERT_EQ(Init("f32", {"--tokenizer", *dir_ + "/tok"}).exit_code, 0);
  ProcessResult r = RunProcess(
      {SsdBinary(), "model", "convert", "--model", *dir_ + "/f32", "--out", *dir_ + "/bf16", "--dtype", "bf16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunProcess({SsdBinary(), "model", "info", "--model", *dir_ + "/bf16", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["dtype"], "BF16") << r.out;
  EXPECT_EQ(Slurp(*dir_ + "/bf16/tokenizer.json"), Slurp(*dir_ + "/f32/tokenizer.json"));
  EXPECT_EQ(Config("bf16")["vocab_size"], Config("f32")["vocab_size"]);
  EXPECT_LT(std::filesystem::file_size(*dir_ + "/bf16/model.safetensors"),
            std::filesystem::file_size(*dir_ + "/f32/model.safetensors") * 6 / 10);
  // bf16 keeps 8 bits of mantissa: each weight moves by at most 2^-9 of
  // itself, so logits of this 1-layer model move by well under 5% of their
  // spread.
  auto logits = [&](const std::string& m) {
    ProcessResult l = RunProcess({SsdBinary(), "model", "logits", "--model", *dir_ + "/" + m, "--ids", "1,2,3,4"});
    EXPECT_EQ(l.exit_code, 0) << l.err;
    return nlohmann::json::parse(l.out).get<std::vector<double>>();
  };
  const std::vector<double> a = logits("f32"), b = logits("bf16");
  ASSERT_EQ(a.size(), b.size());
  double spread = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    spread = std::max(spread, std::abs(a[i] - a[0]));
    diff = std::max(diff, std::abs(a[i] - b[i]));
  }
  EXPECT_GT(diff, 0) << "bf16 weights should round something";
  EXPECT_LT(diff, 0.05 * spread) << diff << " vs spread " << spread;

  r = RunProcess(
      {SsdBinary(), "model", "convert", "--model", *dir_ + "/f32", "--out", *dir_ + "/f32", "--dtype", "bf16"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--out: must differ from --model"), std::string::npos) << r.err;
  r = RunProcess({SsdBinary(), "model", "convert", "--model", *dir_ + "/f32", "--out", *dir_ + "/x", "--dtype", "f8"});
  EXPECT_NE(r.err.find("--dtype: \"f8\" is not one of f32, bf16, f16"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ssd
