// deploy/quickstart.sh at a reduced size: the committed tiny-code base model,
// 40 train prompts and 20 eval problems on a real local cluster (a
// coordinator, 2 samplers and 2 trainers). Every stage runs, the table,
// report.json and report.html come out, the distilled model loads in the
// independent Python reference, the page renders in headless Chromium,
// Ctrl-C stops every process, and bad inputs are named before any work.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/file_util.h"
#include "common/util/ports.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

using Json = nlohmann::json;

constexpr char kPython[] = "/usr/bin/python3";

std::string Slurp(const std::string& path) { return ReadFileToString(path).value_or(""); }

int Count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// The first `n` lines of a file of the source tree, written to `out`.
void Head(const std::string& from, int n, const std::string& out) {
  std::ifstream in(SourceDir() + "/" + from);
  std::ofstream o(out);
  std::string line;
  for (int i = 0; i < n && std::getline(in, line); ++i) o << line << "\n";
}

class QuickstartTest : public testing::Test {
 protected:
  void SetUp() override {
    Head("deploy/tiny-code/train.jsonl", 40, dir_ + "/train.jsonl");
    Head("deploy/tiny-code/eval.jsonl", 20, dir_ + "/eval.jsonl");
    // The shipped spec's settings at a smaller size; relative paths, as a
    // user's spec has them.
    std::ofstream(dir_ + "/job.yaml") << "name: quickstart-test\n"
                                      << "model: " << SourceDir() << "/deploy/models/tiny-code-base\n"
                                      << "problems: train.jsonl\n"
                                      << "shard_size: 10\n"
                                      << "sampling: {temperature: 1.5, top_k: 20, top_p: 0.8, n: 1, "
                                         "max_tokens: 160, seed: 1}\n"
                                      << "filter: {drop_empty: true, drop_shortest_percent: 10}\n"
                                      << "train: {epochs: 1, lr: 3.0e-4, warmup_steps: 2, max_seq_len: 1024, "
                                         "micro_batch_tokens: 2048, batch_tokens: 4096, trainers: 2, seed: 1}\n"
                                      << "eval:\n"
                                      << "  benchmark: eval.jsonl\n"
                                      << "  n: 5\n"
                                      << "  ks: [1, 5]\n"
                                      << "  max_tokens: 160\n"
                                      << "  temperatures: [0, 1.0]\n"
                                      << "  truncations: [{}, {top_k: 20, top_p: 0.8}]\n"
                                      << "  held_out_fraction: 0.5\n"
                                      << "  shard_size: 5\n"
                                      << "  base: true\n";
  }

  std::vector<std::string> Quickstart(const std::vector<std::string>& args, const std::string& ssd = SsdBinary(),
                                      const std::string& bwrap = "") {
    std::vector<std::string> argv = {"env", "SSD_BIN=" + ssd};
    if (!bwrap.empty()) argv.push_back("SSD_BWRAP=" + bwrap);
    argv.push_back(SourceDir() + "/deploy/quickstart.sh");
    argv.insert(argv.end(), {"--no-build", "--spec", dir_ + "/job.yaml"});
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  ScopedTempDir tmp_{"ssd_quickstart"};
  std::string dir_ = tmp_.path();
};

TEST_F(QuickstartTest, OneSsdRoundRunsEveryStageAndWritesTheTableAndReports) {
  absl::StatusOr<LoopbackListener> busy = LoopbackListener::Open();
  ASSERT_TRUE(busy.ok()) << busy.status();
  ASSERT_GT(busy->port(), 0);
  const std::string out = dir_ + "/out";
  ProcessResult r = RunProcess(Quickstart({"--out", out, "--port", std::to_string(busy->port())}), 900);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string all = r.out + r.err;
  // The busy port was seen and another one taken.
  EXPECT_NE(all.find(absl::StrCat("port ", busy->port(), " is in use")), std::string::npos) << all;

  // Every stage ran: the base was evaluated, every prompt sampled, the filter
  // cut by length, SFT stepped, the SSD model evaluated.
  const Json job = Json::parse(Slurp(out + "/cluster/report.json"), nullptr, false);
  ASSERT_TRUE(job.is_object()) << Slurp(out + "/cluster/report.json");
  EXPECT_EQ(job["state"], "SUCCEEDED");
  ASSERT_EQ(job["rounds"].size(), 1u);
  const Json& round = job["rounds"][0];
  EXPECT_EQ(std::stoll(round["samples"].get<std::string>()), 40);
  EXPECT_GT(std::stoll(round["filter"]["dropped_short"].get<std::string>()), 0);
  EXPECT_GT(std::stoll(round["train_steps"].get<std::string>()), 0);
  EXPECT_FALSE(round["filter"]["histogram_counts"].empty());
  ASSERT_EQ(job["evals"].size(), 2u);
  EXPECT_EQ(job["evals"][0]["round"], 0);
  EXPECT_EQ(job["evals"][1]["round"], 1);

  // The table: both truncations at both temperatures, and the chosen rows.
  for (const char* want : {"| T_eval | truncation | pass@1 base | pass@1 SSD |", "| 0 (greedy) | none |",
                           "| 0 (greedy) | top_k 20, top_p 0.8 |", "| 1.0 | none |", "| 1.0 | top_k 20, top_p 0.8 |",
                           "| chosen | chosen |", "hard pass@1 base → SSD", "distilled model: ", "report.html: "}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  }
  EXPECT_EQ(Slurp(out + "/table.md").substr(0, 20), "| T_eval | truncatio");
  // The mechanism step: ssd analyze on the base and the distilled model.
  EXPECT_NE(r.out.find("At locks the tail mass went from"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("report: " + out + "/analysis.html"), std::string::npos) << r.out;
  const Json mech = Json::parse(Slurp(out + "/analysis.json"), nullptr, false);
  ASSERT_TRUE(mech.is_object()) << Slurp(out + "/analysis.log");
  EXPECT_GT(mech["all"]["positions"].get<int64_t>(), 0);
  EXPECT_EQ(mech["tuned"], round["model_path"]) << mech.dump().substr(0, 400);

  // report.json: per model and setting pass@1 and pass@5 with CIs, by difficulty.
  const Json rep = Json::parse(Slurp(out + "/report.json"), nullptr, false);
  ASSERT_TRUE(rep.is_object());
  for (const char* model : {"base", "ssd"}) {
    const Json& m = rep["models"][model];
    ASSERT_EQ(m["settings"].size(), 4u) << model;
    for (const Json& s : m["settings"]) {
      for (const char* k : {"pass@1", "pass@5"}) {
        const Json& e = s["groups"]["overall"][k];
        EXPECT_LE(e["ci_low"].get<double>(), e["value"].get<double>()) << model << k;
        EXPECT_GE(e["ci_high"].get<double>(), e["value"].get<double>()) << model << k;
      }
      EXPECT_EQ(s["groups"]["overall"]["problems"], 20);
    }
    ASSERT_TRUE(m["chosen"].is_object()) << model << m;
    EXPECT_EQ(m["chosen"]["held_out_problems"].get<int>() + m["chosen"]["tune_problems"].get<int>(), 20);
  }

  // The distilled model: an HF folder that the independent reference loads,
  // and its logits agree with ssd's.
  const std::string model = rep["distilled_model"];
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"}) {
    EXPECT_FALSE(Slurp(model + "/" + f).empty()) << model << "/" << f;
  }
  ProcessResult ref = RunProcess(
      {kPython, SourceDir() + "/tests/reference/hf_reference.py", "logits", "--model", model, "--ids", "1,40,300,7"});
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  ProcessResult ours = RunProcess({SsdBinary(), "model", "logits", "--model", model, "--ids", "1,40,300,7"});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  const Json a = Json::parse(ref.out, nullptr, false), b = Json::parse(ours.out, nullptr, false);
  ASSERT_TRUE(a.is_array() && b.is_array());
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i].get<double>() - b[i].get<double>()));
  EXPECT_LT(worst, 1e-3);

  // report.html: self-contained, and headless Chromium renders its charts.
  const std::string page = Slurp(out + "/report.html");
  EXPECT_EQ(Count(page, "<svg "), 4) << page.substr(0, 2000);
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("https:"), std::string::npos);
  ProcessResult dom = RunProcess(
      {"chromium-headless-shell", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + out + "/report.html"},
      120);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  EXPECT_EQ(Count(dom.out, "<svg "), 4) << dom.out.substr(0, 2000);
  EXPECT_NE(dom.out.find("One round of Simple Self-Distillation"), std::string::npos);
  ProcessResult shot =
      RunProcess({"chromium-headless-shell", "--no-sandbox", "--disable-gpu", "--window-size=1200,1800",
                  "--screenshot=" + out + "/report.png", "file://" + out + "/report.html"},
                 120);
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  EXPECT_GT(Slurp(out + "/report.png").size(), 20000u) << "a blank page is a few kB";
}

TEST_F(QuickstartTest, CtrlCMidRunStopsEveryProcess) {
  const std::string out = dir_ + "/out";
  BackgroundProcess qs(Quickstart({"--out", out}), dir_ + "/qs.log");
  // Interrupt once the cluster is up and working: the samplers have leases.
  ASSERT_TRUE(WaitUntil([&] { return ProcessesMentioning(out + "/cluster/sampler-").size() >= 2; }, 120)) << qs.Log();
  sleep(3);
  const std::vector<std::string> before = ProcessesMentioning(out);
  EXPECT_GE(before.size(), 5u) << "ssd local, a coordinator, 2 samplers, 2 trainers";
  // Ctrl-C reaches the terminal's foreground group: the script.
  qs.Signal(SIGINT);
  const int status = qs.Wait(60);
  ASSERT_NE(status, -1) << "the script did not stop\n" << qs.Log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << status;
  EXPECT_NE(qs.Log().find("interrupted; every process was stopped"), std::string::npos) << qs.Log();
  std::vector<std::string> left;
  EXPECT_TRUE(WaitUntil([&] { return (left = ProcessesMentioning(out)).empty(); }, 10)) << absl::StrJoin(left, "\n");
}

TEST_F(QuickstartTest, BadInputsAreNamedBeforeAnyWork) {
  // A read-only output folder (a read-only bind mount: root ignores modes).
  const std::string ro = dir_ + "/ro";
  ASSERT_TRUE(MakeDirs(ro).ok());
  std::vector<std::string> argv = {"bwrap", "--dev-bind", "/", "/", "--ro-bind", ro, ro, "--"};
  for (const std::string& a : Quickstart({"--out", ro})) argv.push_back(a);
  ProcessResult r = RunProcess(argv);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--out " + ro + ": not writable"), std::string::npos) << r.err;

  // Less free space than the run needs.
  r = RunProcess(Quickstart({"--out", dir_ + "/o", "--min-free-mb", "999999999"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("MiB free, the run needs about 999999999 MiB"), std::string::npos) << r.err;

  // No bubblewrap.
  r = RunProcess(Quickstart({"--out", dir_ + "/o"}, SsdBinary(), "/nonexistent/bwrap"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/bwrap is missing"), std::string::npos) << r.err;

  // Not built, and told not to build.
  r = RunProcess(Quickstart({"--out", dir_ + "/o"}, "/nonexistent/ssd"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/ssd: not built"), std::string::npos) << r.err;

  // Flags and the spec.
  r = RunProcess(Quickstart({"--out", dir_ + "/o", "--samplers", "two"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--samplers: must be a whole number, got 'two'"), std::string::npos) << r.err;
  r = RunProcess(Quickstart({"--out", dir_ + "/o", "--spec", dir_ + "/missing.yaml"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--spec " + dir_ + "/missing.yaml: cannot read it"), std::string::npos) << r.err;
  std::ofstream(dir_ + "/bad.yaml") << "model: [1\n";
  r = RunProcess(Quickstart({"--out", dir_ + "/o", "--spec", dir_ + "/bad.yaml"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.yaml: not YAML"), std::string::npos) << r.err;
  // None of these started a process.
  EXPECT_TRUE(ProcessesMentioning(dir_ + "/o").empty());
}

TEST_F(QuickstartTest, TheReportNamesABrokenJobFileAndField) {
  const std::string script = SourceDir() + "/deploy/quickstart_report.py";
  std::ofstream(dir_ + "/job.json") << "{\"id\": \"j\", \"state\": \"SUCCEEDED\", \"evals\": "
                                       "[{\"round\": 0, \"temperatures\": [{\"temperature\": \"hot\"}]}]}";
  ProcessResult r = RunProcess({kPython, script, "report", "--job", dir_ + "/job.json", "--out", dir_ + "/r"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("job.json.evals[0].temperatures[0].temperature: must be a number, got 'hot'"), std::string::npos)
      << r.err;
  std::ofstream(dir_ + "/failed.json") << "{\"id\": \"j\", \"state\": \"FAILED\", \"error\": \"boom\"}";
  r = RunProcess({kPython, script, "report", "--job", dir_ + "/failed.json", "--out", dir_ + "/r"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("the job is FAILED, not SUCCEEDED: boom"), std::string::npos) << r.err;
  std::ofstream(dir_ + "/trunc.json") << "{\"id\": \"j\", ";
  r = RunProcess({kPython, script, "report", "--job", dir_ + "/trunc.json", "--out", dir_ + "/r"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("trunc.json: not JSON"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ssd
