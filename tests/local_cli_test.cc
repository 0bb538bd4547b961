// `ssd local` and the client commands as a new user meets them, on real
// processes: a spec the local cluster can never run is refused before any
// process starts; Ctrl-C says the cluster stopped and how to open it again,
// and that recipe works; `--json` prints the states the tables print.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/util/file_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

using Json = nlohmann::json;

class LocalCliTest : public testing::Test {
 protected:
  // The tiny-code base model on 20 training prompts; `trainers` as given.
  void WriteSpec(int trainers) {
    std::ifstream in(SourceDir() + "/deploy/tiny-code/train.jsonl");
    std::ofstream problems(dir_ + "/train.jsonl");
    std::string line;
    for (int i = 0; i < 20 && std::getline(in, line); ++i) problems << line << "\n";
    std::ofstream(dir_ + "/job.yaml") << "name: local-cli-test\n"
                                      << "model: " << SourceDir() << "/deploy/models/tiny-code-base\n"
                                      << "problems: train.jsonl\n"
                                      << "shard_size: 5\n"
                                      << "sampling: {temperature: 1.5, top_k: 20, top_p: 0.8, n: 2, "
                                         "max_tokens: 160, seed: 1}\n"
                                      << "train: {epochs: 1, max_seq_len: 1024, micro_batch_tokens: 2048, "
                                         "batch_tokens: 4096, trainers: "
                                      << trainers << "}\n";
  }

  ScopedTempDir tmp_{"ssd_local_cli"};
  std::string dir_ = tmp_.path();
};

TEST_F(LocalCliTest, ASpecAskingForMoreTrainersThanTheClusterStartsIsRefusedBeforeAnyProcess) {
  WriteSpec(2);
  const std::string data = dir_ + "/cluster";
  const auto t0 = std::chrono::steady_clock::now();
  ProcessResult r = RunProcess(
      {SsdBinary(), "local", dir_ + "/job.yaml", "--samplers", "1", "--trainers", "1", "--data-dir", data}, 60);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("train.trainers is 2 but this local cluster starts --trainers 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("run ssd local with --trainers 2, or set train.trainers: 1"), std::string::npos) << r.err;
  EXPECT_LT(seconds, 10) << "refused at once, not after sampling";
  EXPECT_FALSE(PathExists(data)) << "nothing was made";
  EXPECT_TRUE(ProcessesMentioning(data).empty());

  // A spec the coordinator would refuse is refused here too, by field.
  std::ofstream(dir_ + "/bad.yaml") << "model: /m\nproblems: train.jsonl\nsampling: {top_p: 1.5}\n";
  r = RunProcess({SsdBinary(), "local", dir_ + "/bad.yaml", "--data-dir", data}, 60);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("sampling.top_p: must be in (0, 1], got 1.5"), std::string::npos) << r.err;
  // So is a problem file the coordinator would refuse at submit time.
  std::ofstream(dir_ + "/empty.jsonl") << "\n";
  std::ofstream(dir_ + "/empty.yaml") << "model: /m\nproblems: empty.jsonl\n";
  r = RunProcess({SsdBinary(), "local", dir_ + "/empty.yaml", "--data-dir", data}, 60);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("empty.yaml: problems: " + dir_ + "/empty.jsonl holds no problems"), std::string::npos) << r.err;
  EXPECT_FALSE(PathExists(data));
}

TEST_F(LocalCliTest, CtrlCSaysTheClusterStoppedAndHowToReopenItAndTheRecipeWorks) {
  WriteSpec(1);
  const std::string data = dir_ + "/cluster";
  BackgroundProcess local(
      {SsdBinary(), "local", dir_ + "/job.yaml", "--samplers", "1", "--trainers", "1", "--data-dir", data},
      dir_ + "/local.log");
  ASSERT_TRUE(local.WaitForLog(" submitted", 120)) << local.Log();
  ASSERT_TRUE(WaitUntil([&] { return ProcessesMentioning(data + "/sampler-0").size() == 1; }, 30)) << local.Log();
  sleep(2);
  // Ctrl-C reaches the terminal's foreground group: ssd local, not its
  // children (each has a group of its own).
  local.Signal(SIGINT);
  const int status = local.Wait(60);
  ASSERT_NE(status, -1) << "ssd local did not stop\n" << local.Log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << status;
  std::vector<std::string> left;
  EXPECT_TRUE(WaitUntil([&] { return (left = ProcessesMentioning(data)).empty(); }, 10)) << absl::StrJoin(left, "\n");
  const std::string log = local.Log();
  EXPECT_EQ(log.find("job goes on"), std::string::npos) << "untrue here: the cluster is gone\n" << log;
  EXPECT_NE(log.find("interrupted: the local cluster is stopped, and job "), std::string::npos) << log;
  EXPECT_NE(log.find("; it does not go on.\nits state and logs are in " + data + "\n"), std::string::npos) << log;
  const std::string reopen = "ssd coordinator --data-dir " + data + "/coordinator --certs " + data + "/certs";
  EXPECT_NE(log.find(reopen), std::string::npos) << log;
  const size_t at = log.find("ssd status job-");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string job = log.substr(at + 11, log.find(' ', at + 11) - at - 11);

  // The recipe, on a free port instead of 7070.
  const std::string port_file = dir_ + "/port";
  BackgroundProcess coordinator({SsdBinary(), "coordinator", "--data-dir", data + "/coordinator", "--certs",
                                 data + "/certs", "--listen", "127.0.0.1:0", "--port-file", port_file},
                                dir_ + "/coordinator.log");
  int port = 0;
  ASSERT_TRUE(WaitUntil(
      [&] { return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileToString(port_file).value_or("")), &port); },
      60))
      << coordinator.Log();
  const std::vector<std::string> client = {"--coordinator", "127.0.0.1:" + std::to_string(port), "--certs",
                                           data + "/certs"};
  auto run = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin(), SsdBinary());
    argv.insert(argv.end(), client.begin(), client.end());
    return RunProcess(argv, 60);
  };
  ProcessResult table = run({"status", job});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("job:       " + job), std::string::npos) << table.out;

  // --json: the states the tables print, never JOB_STATE_*.
  ProcessResult status_json = run({"status", job, "--json"});
  ASSERT_EQ(status_json.exit_code, 0) << status_json.err;
  const Json j = Json::parse(status_json.out);
  const std::string state = j["state"];
  EXPECT_TRUE(state == "SAMPLING" || state == "FILTERING" || state == "TRAINING") << state;
  EXPECT_NE(table.out.find("state:     " + state), std::string::npos) << "the table says " << table.out;
  ProcessResult jobs = run({"jobs", "--json"});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  EXPECT_EQ(Json::parse(jobs.out)["jobs"][0]["state"], state) << jobs.out;
  ProcessResult workers = run({"workers", "--all", "--json"});
  ASSERT_EQ(workers.exit_code, 0) << workers.err;
  std::vector<std::string> roles;
  const Json listed = Json::parse(workers.out);
  for (const Json& w : listed["workers"]) {
    roles.push_back(w["role"]);
    EXPECT_TRUE(w["state"] == "RECOVERING" || w["state"] == "DEAD" || w["state"] == "LEFT") << w.dump();
  }
  std::sort(roles.begin(), roles.end());
  EXPECT_EQ(roles, (std::vector<std::string>{"SAMPLER", "TRAINER"})) << workers.out;
  for (const std::string* out : {&status_json.out, &jobs.out, &workers.out}) {
    EXPECT_EQ(out->find("JOB_STATE_"), std::string::npos) << *out;
    EXPECT_EQ(out->find("WORKER_"), std::string::npos) << *out;
  }
}

}  // namespace
}  // namespace ssd
