// deploy/examples/README.md's "SSD by hand" block, run as written: the commands between
// the manual-pipeline markers, with `build/bin/ssd` replaced by the binary
// under test and W by a temporary folder, in the source tree. Then each
// step's output is checked, so a README that drifts from the commands fails
// here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t CountLines(const std::string& path) {
  std::vector<std::string> lines = absl::StrSplit(Slurp(path), '\n', absl::SkipEmpty());
  return lines.size();
}

// The shell commands of the README block: the fenced lines between the
// markers.
std::string ReadmeBlock() {
  const std::string readme = Slurp(SourceDir() + "/deploy/examples/README.md");
  const std::string begin = "<!-- manual-pipeline:begin -->", end = "<!-- manual-pipeline:end -->";
  const size_t b = readme.find(begin), e = readme.find(end);
  if (b == std::string::npos || e == std::string::npos || e < b) return "";
  std::string block = readme.substr(b + begin.size(), e - b - begin.size());
  const size_t open = block.find("```\n"), close = block.rfind("```");
  if (open == std::string::npos || close == std::string::npos || close <= open) return "";
  return block.substr(open + 4, close - open - 4);
}

TEST(ManualPipelineTest, TheReadmeCommandsRunAsWrittenEndToEnd) {
  const std::string block = ReadmeBlock();
  ASSERT_FALSE(block.empty()) << "deploy/examples/README.md has no manual-pipeline block";
  ASSERT_NE(block.find("W=/tmp/ssd-manual"), std::string::npos) << block;
  for (const char* step : {"tokenizer train", "model init", "train ", "sample ", "filter ", "eval "}) {
    EXPECT_NE(block.find(std::string("build/bin/ssd ") + step), std::string::npos) << step;
  }
  ScopedTempDir scoped("ssd_manual_pipeline");  // removed also when an ASSERT returns early
  const std::string w = scoped.path();
  const std::string script =
      absl::StrReplaceAll(block, {{"W=/tmp/ssd-manual", "W=" + w}, {"build/bin/ssd", SsdBinary()}});
  ProcessResult r =
      RunProcess({"/bin/bash", "-e", "-x", "-o", "pipefail", "-c", "cd \"$0\" && " + script, SourceDir()}, 600);
  std::cerr << r.err.substr(r.err.size() > 6000 ? r.err.size() - 6000 : 0);
  ASSERT_FALSE(r.timed_out);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // The model was made with its tokenizer, sized to it.
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_TRUE(fs::exists(w + "/init/" + f)) << f;
  }
  EXPECT_TRUE(fs::is_symlink(w + "/base/checkpoints/latest"));
  // 8 problems x 4 samples, each with its conversation.
  EXPECT_EQ(CountLines(w + "/samples.jsonl"), 32u);
  // The filter dropped the empty ones and then floor(10%) of the rest.
  const size_t kept = CountLines(w + "/sft.jsonl");
  EXPECT_LT(kept, 32u);
  EXPECT_GE(kept, 25u);
  EXPECT_NE(r.err.find("filtered 32 samples: dropped"), std::string::npos);
  for (absl::string_view line : absl::StrSplit(Slurp(w + "/sft.jsonl"), '\n', absl::SkipEmpty())) {
    const nlohmann::json j = nlohmann::json::parse(line);
    ASSERT_EQ(j["messages"].size(), 2u);
    EXPECT_NE(j["messages"][0]["content"].get<std::string>().find("You will be given a question"), std::string::npos);
  }
  EXPECT_TRUE(fs::exists(w + "/ssd/model/model.safetensors"));
  // Both evaluations printed their pass@k tables.
  size_t tables = 0;
  for (size_t at = r.out.find("| overall"); at != std::string::npos; at = r.out.find("| overall", at + 1)) ++tables;
  EXPECT_EQ(tables, 2u) << r.out;
}

}  // namespace
}  // namespace ssd
