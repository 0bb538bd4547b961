// `ssd train` end to end: real processes, a real BPE tokenizer and model
// folder made by `ssd tokenizer train` / `ssd model init`, Gloo over loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/model/safetensors.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::vector<nlohmann::json> Metrics(const std::string& out) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(out + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

// Tiny arithmetic chats: "add A and B" -> "return A+B".
std::string ChatData(int n) {
  std::string out;
  std::mt19937 rng(1);
  for (int i = 0; i < n; ++i) {
    const int a = static_cast<int>(rng() % 10), b = static_cast<int>(rng() % 10);
    nlohmann::json j;
    j["messages"] = {{{"role", "user"}, {"content", absl::StrCat("add ", a, " and ", b)}},
                     {{"role", "assistant"}, {"content", absl::StrCat("def f():\n    return ", a + b)}}};
    out += j.dump() + "\n";
  }
  return out;
}

class TrainCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new ScopedTempDir("train_cli_test");
    dir_ = new std::string(tmp_->path());
    const std::string& d = *dir_;
    std::string corpus;
    for (int i = 0; i < 20; ++i) corpus += ChatData(30) + "def f():\n    return 12\nadd 3 and 4\n";
    WriteAll(d + "/corpus.txt", corpus);
    Check(RunProcess({SsdBinary(), "tokenizer", "train", "--corpus", d + "/corpus.txt", "--vocab-size", "300", "--out",
                      d + "/tok"}));
    MakeModel("qwen3", 300, d + "/model");
    MakeModel("llama3", 300, d + "/llama");
    MakeModel("qwen3", 64, d + "/small_vocab");
    MakeModel("qwen3_moe", 300, d + "/moe");
    WriteAll(d + "/train.jsonl", ChatData(64));
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete tmp_;
  }

  static void Check(const ProcessResult& r) { ASSERT_EQ(r.exit_code, 0) << r.err; }
  static void MakeModel(const std::string& arch, int vocab, const std::string& out) {
    Check(RunProcess({SsdBinary(),
                      "model",
                      "init",
                      "--arch",
                      arch,
                      "--vocab",
                      std::to_string(vocab),
                      "--hidden",
                      "32",
                      "--layers",
                      "2",
                      "--heads",
                      "4",
                      "--kv-heads",
                      "2",
                      "--head-dim",
                      "8",
                      "--intermediate",
                      "64",
                      "--init-std",
                      "0.05",
                      "--seed",
                      "3",
                      "--out",
                      out}));
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
      fs::copy_file(*dir_ + "/tok/" + f, out + "/" + f, fs::copy_options::overwrite_existing);
    }
  }

  // The common recipe: 64-token rows, 2 micro-batches per step, 24 steps.
  static std::vector<std::string> TrainArgs(const std::string& out, const std::string& model = "model") {
    return {SsdBinary(),
            "train",
            "--model",
            *dir_ + "/" + model,
            "--data",
            *dir_ + "/train.jsonl",
            "--out",
            *dir_ + "/" + out,
            "--max-seq-len",
            "64",
            "--micro-batch-tokens",
            "64",
            "--batch-tokens",
            "128",
            "--epochs",
            "3",
            "--max-steps",
            "24",
            "--lr",
            "3e-3",
            "--warmup",
            "3",
            "--weight-decay",
            "0.01",
            "--seed",
            "5",
            "--threads",
            "1",
            "--no-progress"};
  }
  // Appends flags, replacing the value of a flag already present (CLI11
  // rejects a repeated option).
  static std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
    for (size_t i = 0; i < more.size(); ++i) {
      const bool has_value = i + 1 < more.size() && more[i + 1].rfind("--", 0) != 0;
      auto it = std::find(args.begin(), args.end(), more[i]);
      if (it != args.end() && has_value && it + 1 != args.end()) {
        *(it + 1) = more[++i];
        continue;
      }
      args.push_back(more[i]);
      if (has_value) args.push_back(more[++i]);
    }
    return args;
  }

  static ScopedTempDir* tmp_;
  static std::string* dir_;
};

ScopedTempDir* TrainCliTest::tmp_ = nullptr;
std::string* TrainCliTest::dir_ = nullptr;

// Max |a - b| / max |b| over every tensor of two model.safetensors.
double MaxRelativeDiff(const std::string& a_path, const std::string& b_path) {
  auto a = SafetensorsFile::Open(a_path).value();
  auto b = SafetensorsFile::Open(b_path).value();
  double worst = 0;
  for (const TensorInfo& ta : a.tensors()) {
    const TensorInfo* tb = b.Find(ta.name);
    EXPECT_NE(tb, nullptr) << ta.name;
    if (tb == nullptr) return 1e9;
    const float* x = reinterpret_cast<const float*>(a.Data(ta));
    const float* y = reinterpret_cast<const float*>(b.Data(*tb));
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < ta.num_elements(); ++i) {
      diff = std::max(diff, std::fabs(static_cast<double>(x[i]) - y[i]));
      scale = std::max(scale, std::fabs(static_cast<double>(y[i])));
    }
    worst = std::max(worst, diff / std::max(scale, 1e-30));
  }
  return worst;
}

TEST_F(TrainCliTest, TwoGlooRanksReachTheSameWeightsAndLossCurveAsOneProcess) {
  // 4 micro-batches per step: each rank accumulates 2, so the float
  // summation order differs from DP=1's.
  const std::vector<std::string> four = {"--batch-tokens", "256", "--epochs", "6"};
  Check(RunProcess(With(TrainArgs("dp1"), four)));
  Check(RunProcess(With(With(TrainArgs("dp2"), four), {"--nproc", "2"})));
  const auto one = Metrics(*dir_ + "/dp1"), two = Metrics(*dir_ + "/dp2");
  ASSERT_EQ(one.size(), 24u);
  ASSERT_EQ(two.size(), 24u);
  for (size_t s = 0; s < one.size(); ++s) {
    const double a = one[s]["loss"], b = two[s]["loss"];
    EXPECT_NEAR(a, b, 1e-5 * a) << "step " << s + 1;
    EXPECT_EQ(one[s]["tokens"], two[s]["tokens"]);
  }
  EXPECT_LT(one.back()["loss"].get<double>(), one.front()["loss"].get<double>());
  const double rel = MaxRelativeDiff(*dir_ + "/dp2/model/model.safetensors", *dir_ + "/dp1/model/model.safetensors");
  EXPECT_LT(rel, 1e-5);
  std::cerr << "DP=2 vs DP=1: max relative weight difference " << rel << "\n";
  // The saved folder is a complete Hugging Face model with its tokenizer.
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_TRUE(fs::exists(*dir_ + "/dp2/model/" + f)) << f;
  }
}

// A mixture of experts under full sharding: its experts are parameters like
// any other, sharded with their layer. Two Gloo ranks must train what one
// unsharded process trains, aux loss on, and export the fused layout.
TEST_F(TrainCliTest, MoeModelFullyShardedOverTwoGlooRanksTrainsAsOneProcessAndExportsFusedExperts) {
  const std::vector<std::string> moe = {"--batch-tokens",   "256", "--epochs",          "6",    "--max-steps", "8",
                                        "--router-aux-loss", "hf", "--router-aux-loss-coef", "0.05"};
  Check(RunProcess(With(TrainArgs("moe1", "moe"), moe)));
  Check(RunProcess(With(With(TrainArgs("moe2", "moe"), moe),
                        {"--nproc", "2", "--sharding", "full", "--expert-layout", "fused"})));
  const auto one = Metrics(*dir_ + "/moe1"), two = Metrics(*dir_ + "/moe2");
  ASSERT_EQ(one.size(), 8u);
  ASSERT_EQ(two.size(), 8u);
  for (size_t s = 0; s < one.size(); ++s) {
    EXPECT_NEAR(one[s]["loss"].get<double>(), two[s]["loss"].get<double>(), 1e-5 * one[s]["loss"].get<double>())
        << "step " << s + 1;
    EXPECT_NEAR(one[s]["aux_loss"].get<double>(), two[s]["aux_loss"].get<double>(), 1e-5) << "step " << s + 1;
    EXPECT_EQ(one[s]["expert_load"], two[s]["expert_load"]) << "step " << s + 1;
  }
  const std::string index = ReadAll(*dir_ + "/moe2/model/model.safetensors.index.json");
  EXPECT_NE(index.find("model.layers.1.mlp.experts.gate_up_proj"), std::string::npos) << index;
  EXPECT_EQ(index.find("mlp.experts.0.up_proj"), std::string::npos) << index;
  // Back in the per-expert layout, one file: the same weights as one process's.
  Check(RunProcess({SsdBinary(), "model", "convert", "--model", *dir_ + "/moe2/model", "--out",
                    *dir_ + "/moe2_per_expert", "--dtype", "f32"}));
  EXPECT_LT(MaxRelativeDiff(*dir_ + "/moe2_per_expert/model.safetensors", *dir_ + "/moe1/model/model.safetensors"),
            1e-5);
}

TEST_F(TrainCliTest, RunKilledAtARandomStepResumesToBitwiseTheSameWeights) {
  Check(RunProcess(With(TrainArgs("straight"), {"--save-every", "1"})));

  std::mt19937 rng(static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
  const int kill_after = 3 + static_cast<int>(rng() % 15);
  const std::string out = *dir_ + "/killed";
  std::vector<std::string> args = With(TrainArgs("killed"), {"--save-every", "1"});
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  bool killed = false;
  for (int i = 0; i < 6000 && !killed; ++i) {
    if (static_cast<int>(Metrics(out).size()) >= kill_after) {
      kill(pid, SIGKILL);
      killed = true;
    }
    int status;
    if (!killed && waitpid(pid, &status, WNOHANG) == pid) break;  // finished first
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int status = 0;
  if (killed) waitpid(pid, &status, 0);
  ASSERT_TRUE(killed) << "the run ended before step " << kill_after;
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(fs::exists(out + "/model/model.safetensors"));

  ProcessResult resumed = RunProcess(With(args, {"--resume"}));
  Check(resumed);
  EXPECT_NE(resumed.err.find("resumed from"), std::string::npos) << resumed.err;
  EXPECT_EQ(ReadAll(out + "/model/model.safetensors"), ReadAll(*dir_ + "/straight/model/model.safetensors"))
      << "killed after step " << kill_after;
  // The loss curve is one clean run: steps 1..24 once each, as uninterrupted.
  const auto curve = Metrics(out), straight = Metrics(*dir_ + "/straight");
  ASSERT_EQ(curve.size(), straight.size());
  for (size_t s = 0; s < curve.size(); ++s) EXPECT_EQ(curve[s]["loss"], straight[s]["loss"]) << s;
}

TEST_F(TrainCliTest, LossDropsBelowTheThresholdSetByThePythonReference) {
  const std::string tokens = *dir_ + "/tokens.jsonl";
  Check(RunProcess(With(TrainArgs("learn"), {"--dump-tokens", tokens})));
  ProcessResult py = RunProcess({"/usr/bin/python3",
                                 SourceDir() + "/tests/reference/hf_reference.py",
                                 "train",
                                 "--model",
                                 *dir_ + "/model",
                                 "--tokens",
                                 tokens,
                                 "--epochs",
                                 "3",
                                 "--max-steps",
                                 "24",
                                 "--lr",
                                 "3e-3",
                                 "--warmup",
                                 "3",
                                 "--weight-decay",
                                 "0.01",
                                 "--batch-tokens",
                                 "128",
                                 "--max-seq-len",
                                 "64",
                                 "--threads",
                                 "1"});
  ASSERT_EQ(py.exit_code, 0) << py.err;
  const auto ref = nlohmann::json::parse(py.out);
  const std::vector<double> ref_losses = ref["losses"];
  ASSERT_EQ(ref_losses.size(), 24u);
  auto tail_mean = [](const std::vector<double>& v) {
    return (v[v.size() - 1] + v[v.size() - 2] + v[v.size() - 3]) / 3;
  };
  const double ref_start = ref_losses[0], ref_end = tail_mean(ref_losses);
  ASSERT_LT(ref_end, ref_start) << "the reference itself did not learn";
  // Must achieve at least 80% of the reference's loss reduction.
  const double threshold = ref_end + 0.2 * (ref_start - ref_end);

  Check(RunProcess(TrainArgs("learn")));
  std::vector<double> ours;
  for (const auto& m : Metrics(*dir_ + "/learn")) ours.push_back(m["loss"]);
  ASSERT_EQ(ours.size(), 24u);
  std::cerr << "python: " << ref_start << " -> " << ref_end << ", ssd: " << ours[0] << " -> " << tail_mean(ours)
            << ", threshold " << threshold << "\n";
  EXPECT_NEAR(ours[0], ref_start, 0.05 * ref_start);  // same model, same starting loss
  EXPECT_LT(tail_mean(ours), threshold);
}

// checkpoints/step-00000004/ and a `latest` symlink to it, atomically
// replaced, so `--model RUN/checkpoints/latest` works for every command.
TEST_F(TrainCliTest, CheckpointsLatestIsALinkThatCommandsTakeAsAModel) {
  Check(RunProcess(With(TrainArgs("ckpt"), {"--max-steps", "4", "--save-every", "2", "--keep-checkpoints", "3"})));
  const std::string ck = *dir_ + "/ckpt/checkpoints";
  EXPECT_TRUE(fs::exists(ck + "/step-00000002/model.safetensors"));
  EXPECT_TRUE(fs::exists(ck + "/step-00000004/model.safetensors"));
  ASSERT_TRUE(fs::is_symlink(ck + "/latest"));
  EXPECT_EQ(fs::read_symlink(ck + "/latest").string(), "step-00000004");
  EXPECT_FALSE(fs::exists(ck + "/latest.tmp"));
  EXPECT_EQ(ReadAll(ck + "/latest/model.safetensors"), ReadAll(*dir_ + "/ckpt/model/model.safetensors"));

  WriteAll(*dir_ + "/ckpt_prompts.jsonl", "{\"id\": \"a\", \"prompt\": \"add 1 and 2\"}\n");
  auto sample = [&](const std::string& model, const std::string& out) {
    return RunProcess({SsdBinary(), "sample", "--model", model, "--prompts", *dir_ + "/ckpt_prompts.jsonl",
                       "--temperature", "0", "--max-tokens", "8", "--threads", "1", "--quiet", "--out", out});
  };
  Check(sample(ck + "/latest", *dir_ + "/ckpt_latest.jsonl"));
  Check(sample(ck + "/step-00000004", *dir_ + "/ckpt_step4.jsonl"));
  EXPECT_EQ(ReadAll(*dir_ + "/ckpt_latest.jsonl"), ReadAll(*dir_ + "/ckpt_step4.jsonl"));
  // Training on from it works too.
  Check(RunProcess(With(TrainArgs("ckpt_more", "ckpt/checkpoints/latest"), {"--max-steps", "1"})));

  // Runs from before the symlink wrote `latest` as a file naming the
  // folder: --resume and --model still follow it.
  fs::remove(ck + "/latest");
  WriteAll(ck + "/latest", "step-00000002\n");
  Check(sample(ck + "/latest", *dir_ + "/ckpt_old.jsonl"));
  Check(sample(ck + "/step-00000002", *dir_ + "/ckpt_step2.jsonl"));
  EXPECT_EQ(ReadAll(*dir_ + "/ckpt_old.jsonl"), ReadAll(*dir_ + "/ckpt_step2.jsonl"));
  ProcessResult resumed = RunProcess(
      With(TrainArgs("ckpt"), {"--max-steps", "4", "--save-every", "2", "--keep-checkpoints", "3", "--resume"}));
  Check(resumed);
  EXPECT_NE(resumed.err.find("resumed from " + ck + "/step-00000002 at step 2"), std::string::npos) << resumed.err;
  ASSERT_TRUE(fs::is_symlink(ck + "/latest"));  // the next save makes it a link
  EXPECT_EQ(fs::read_symlink(ck + "/latest").string(), "step-00000004");
}

// MFU can never exceed 100%: a peak below what a step achieves (here an
// absurdly low --peak-flops, as a peak measured on a busy machine would be)
// is raised to the achieved rate, with a warning.
TEST_F(TrainCliTest, MfuNeverExceedsOneAndALowPeakIsCalledOut) {
  ProcessResult r = RunProcess(With(TrainArgs("mfu"), {"--max-steps", "4", "--peak-flops", "1000"}));
  Check(r);
  const auto rows = Metrics(*dir_ + "/mfu");
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& m : rows) {
    ASSERT_TRUE(m.contains("mfu")) << m.dump();
    EXPECT_LE(m["mfu"].get<double>(), 1.0) << m.dump();
    EXPECT_GT(m["mfu"].get<double>(), 0.0) << m.dump();
  }
  EXPECT_DOUBLE_EQ(rows[0]["mfu"].get<double>(), 1.0);
  EXPECT_NE(r.err.find("above the matmul peak of 0.0 GFLOP/s"), std::string::npos) << r.err;
  // The measured peak is logged with its sample count.
  r = RunProcess(With(TrainArgs("mfu_measured"), {"--max-steps", "2"}));
  Check(r);
  EXPECT_NE(r.err.find("matmul peak "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" samples), for MFU"), std::string::npos) << r.err;
  for (const auto& m : Metrics(*dir_ + "/mfu_measured")) EXPECT_LE(m["mfu"].get<double>(), 1.0) << m.dump();
}

TEST_F(TrainCliTest, MalformedLineIsReportedWithItsNumberAndCanBeSkipped) {
  WriteAll(*dir_ + "/bad.jsonl", ChatData(1) + "{\"messages\": [oops\n" + ChatData(40));
  auto args = TrainArgs("bad");
  args[5] = *dir_ + "/bad.jsonl";
  ProcessResult fail = RunProcess(args);
  EXPECT_EQ(fail.exit_code, 2);
  EXPECT_NE(fail.err.find("bad.jsonl:2: not valid JSON"), std::string::npos) << fail.err;
  ProcessResult skip = RunProcess(With(args, {"--on-bad-line", "skip", "--max-steps", "2"}));
  EXPECT_EQ(skip.exit_code, 0) << skip.err;
  EXPECT_NE(skip.err.find("skipped 1 bad line"), std::string::npos) << skip.err;
}

TEST_F(TrainCliTest, EmptyDatasetAndMissingAssistantTurnAreClearErrors) {
  WriteAll(*dir_ + "/empty.jsonl", "\n");
  auto args = TrainArgs("empty");
  args[5] = *dir_ + "/empty.jsonl";
  ProcessResult empty = RunProcess(args);
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_NE(empty.err.find("no trainable examples"), std::string::npos) << empty.err;

  WriteAll(*dir_ + "/noasst.jsonl", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n");
  args[5] = *dir_ + "/noasst.jsonl";
  ProcessResult noasst = RunProcess(args);
  EXPECT_EQ(noasst.exit_code, 2);
  EXPECT_NE(noasst.err.find("noasst.jsonl:1: \"messages\" has no assistant turn"), std::string::npos) << noasst.err;
}

TEST_F(TrainCliTest, TokenizerLargerThanTheModelVocabularyIsRejected) {
  ProcessResult r = RunProcess(TrainArgs("vocab", "small_vocab"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("incompatible model and tokenizer"), std::string::npos) << r.err;
}

TEST_F(TrainCliTest, ResumingFromACheckpointOfAnotherArchitectureFails) {
  Check(RunProcess(With(TrainArgs("arch"), {"--max-steps", "2"})));
  ProcessResult r = RunProcess(With(TrainArgs("arch", "llama"), {"--max-steps", "2", "--resume"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("holds a different architecture (qwen3"), std::string::npos) << r.err;
}

TEST_F(TrainCliTest, AnUnknownShardingModeOrBf16WithoutShardingIsRefusedNamingTheFlag) {
  ProcessResult r = RunProcess(With(TrainArgs("zero3"), {"--sharding", "zero3"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--sharding: must be none, optimizer, gradients or full, got \"zero3\""), std::string::npos)
      << r.err;
  r = RunProcess(With(TrainArgs("bf16"), {"--param-dtype", "bf16"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--param-dtype) bf16 needs --sharding"), std::string::npos) << r.err;
}

TEST_F(TrainCliTest, NprocRefusesRendezvousFlagsItWouldOverride) {
  ProcessResult r = RunProcess(With(TrainArgs("nproc_rank"), {"--nproc", "2", "--rank", "1"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("do not combine it with --rank"), std::string::npos) << r.err;
}

TEST_F(TrainCliTest, AFailingRankStopsTheLaunchWithAClearError) {
  // Rank-level failure: every rank finds the data malformed when it loads it.
  WriteAll(*dir_ + "/launchfail.jsonl", "{\"messages\": [oops\n");
  auto args = With(TrainArgs("launchfail"), {"--nproc", "2"});
  args[5] = *dir_ + "/launchfail.jsonl";
  ProcessResult r = RunProcess(args, 120);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("of 2 (pid"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("launchfail.jsonl:1: not valid JSON"), std::string::npos) << r.err;
}

// Paths are checked before every slow step (launching ranks, measuring the
// matmul peak for MFU, loading), so a typo costs no more than the binary's
// start, measured here as `ssd train --help`.
TEST_F(TrainCliTest, MissingInputsFailBeforeAnySlowStep) {
  auto timed = [](const std::vector<std::string>& argv) {
    const auto t0 = std::chrono::steady_clock::now();
    ProcessResult r = RunProcess(argv, 60);
    return std::make_pair(r, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  const auto base = TrainArgs("missing");
  struct Case {
    std::vector<std::string> flags;
    std::string error;
  };
  WriteAll(*dir_ + "/a_file", "x");
  const std::vector<Case> cases = {
      {{"--model", "/nonexistent/model"}, "--model /nonexistent/model: no such folder"},
      {{"--model", *dir_ + "/tok"}, "--model " + *dir_ + "/tok: no config.json (not a Hugging Face model folder)"},
      {{"--tokenizer", *dir_}, "--tokenizer " + *dir_ + ": no tokenizer.json"},
      {{"--data", *dir_ + "/nope.jsonl"}, "--data " + *dir_ + "/nope.jsonl: no such file"},
      {{"--data", *dir_}, "--data " + *dir_ + ": a folder, not a file"},
      {{"--out", *dir_ + "/a_file"}, "--out " + *dir_ + "/a_file: a file, not a folder"},
      {{"--model", "/nonexistent/model", "--nproc", "2"}, "--model /nonexistent/model: no such folder"},
  };
  std::vector<double> fails;
  for (const Case& c : cases) {
    auto [r, seconds] = timed(With(base, c.flags));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(c.error), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("matmul peak"), std::string::npos) << "measured before the check: " << r.err;
    EXPECT_EQ(r.err.find("(pid"), std::string::npos) << "ranks launched before the check: " << r.err;
    fails.push_back(seconds);
  }
  std::vector<double> starts;
  for (int i = 0; i < 3; ++i) starts.push_back(timed({SsdBinary(), "train", "--help"}).second);
  std::sort(fails.begin(), fails.end());
  std::sort(starts.begin(), starts.end());
  const double fail = fails[fails.size() / 2], start = starts[1];
  std::printf("median failing run %.2f s, median `ssd train --help` %.2f s\n", fail, start);
  // Slack for a loaded machine; the matmul peak alone takes seconds.
  EXPECT_LT(fail, start + 0.5) << "a failing run should cost about the start of the binary";
}

}  // namespace
}  // namespace ssd
