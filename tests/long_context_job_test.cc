// The long-sequence path of a job, end to end on `ssd local`: a spec with
// max_seq_len 65,536 and activation_checkpointing full, a tiny model, and a
// long generated answer (sampling.min_tokens holds the model's stop token
// off for 6,000 tokens), so the one training row is long where SSD's rows
// are long: in the answer, whose tokens are the loss targets. Its attention
// goes blockwise, its layers are checkpointed, its loss is chunked. The job
// must succeed, and the trainer must have trained on that many targets with
// the spec's setting.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/util/file_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

namespace fs = std::filesystem;

// Every file named `name` under `dir`.
std::vector<std::string> FilesNamed(const std::string& dir, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied)) {
    if (e.is_regular_file() && e.path().filename() == name) out.push_back(e.path().string());
  }
  return out;
}

TEST(LongContextJobTest, ASixtyFiveThousandTokenSpecWithFullCheckpointingTrainsOnALongGeneratedAnswerEndToEnd) {
  ScopedTempDir tmp("ssd_long_context_job");
  const std::string dir = tmp.path();
  // The tiny-code base with room for long positions (RoPE has no limit of
  // its own; the sampler caps prompts and answers at this).
  const std::string model = dir + "/model";
  fs::copy(SourceDir() + "/deploy/models/tiny-code-base", model, fs::copy_options::recursive);
  {
    std::ifstream in(model + "/config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    config["max_position_embeddings"] = 65536;
    std::ofstream(model + "/config.json") << config.dump(2);
  }
  std::ofstream(dir + "/problems.jsonl")
      << nlohmann::json{{"id", "long-0"}, {"prompt", "Write a long program."}}.dump() << "\n";
  std::ofstream(dir + "/job.yaml") << "name: long-context\n"
                                   << "model: model\n"
                                   << "problems: problems.jsonl\n"
                                   << "sampling: {temperature: 1.0, n: 1, max_tokens: 6000, min_tokens: 6000, seed: 1}\n"
                                   << "filter: {drop_shortest_percent: 0}\n"
                                   << "train: {epochs: 1, lr: 1.0e-4, max_seq_len: 65536, "
                                      "micro_batch_tokens: 65536, batch_tokens: 65536, trainers: 1, "
                                      "activation_checkpointing: full}\n";
  const std::string data = dir + "/cluster";
  const ProcessResult r = RunProcess(
      {SsdBinary(), "local", dir + "/job.yaml", "--samplers", "1", "--trainers", "1", "--data-dir", data}, 600);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("SUCCEEDED"), std::string::npos) << r.out;

  const std::vector<std::string> specs = FilesNamed(data, "train_spec.json");
  ASSERT_EQ(specs.size(), 1u) << "one trainer trained one round";
  std::ifstream spec_file(specs[0]);
  const nlohmann::json spec = nlohmann::json::parse(spec_file);
  EXPECT_EQ(spec["activation_checkpoint_every"], 1) << spec.dump();
  EXPECT_EQ(spec["max_seq_len"], "65536") << spec.dump();

  const std::vector<std::string> metrics = FilesNamed(data, "metrics.jsonl");
  ASSERT_EQ(metrics.size(), 1u);
  std::ifstream metrics_file(metrics[0]);
  std::string line;
  ASSERT_TRUE(std::getline(metrics_file, line));
  const nlohmann::json step = nlohmann::json::parse(line);
  // The trainer re-tokenizes the answer's text, whose count need not be the
  // 6,000 generated ids' (the tiny model's random pieces re-tokenize to
  // about 14,000 here).
  std::printf("the trainer's step: %s\n", line.c_str());
  EXPECT_GT(step["target_tokens"].get<double>(), 5000) << "the answer was long: " << line;
  EXPECT_TRUE(std::isfinite(step["loss"].get<double>())) << line;
  EXPECT_GT(step["loss"].get<double>(), 0) << line;
}

}  // namespace
}  // namespace ssd
