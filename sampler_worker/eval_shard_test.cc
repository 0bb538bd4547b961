// EvaluateShard with a scripted backend and a sandbox that grades like the
// harness's batch protocol: the outcomes per problem and setting, one
// grading pass per shard in full batches, and the failures that fail a
// shard.
#include "sampler_worker/eval_shard.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/eval/fake_sandbox.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

std::string BenchmarkLine(const std::string& id) {
  nlohmann::json tests = nlohmann::json::array({{{"input", "1\n"}, {"output", "1\n"}, {"testtype", "stdin"}}});
  nlohmann::json j = {{"question_id", id},
                      {"question_title", "t"},
                      {"question_content", "c"},
                      {"starter_code", ""},
                      {"difficulty", "easy"},
                      {"platform", "atcoder"},
                      {"contest_date", "2025-03-01T00:00:00"},
                      {"public_test_cases", tests.dump()},
                      {"private_test_cases", "[]"},
                      {"metadata", "{}"}};
  return j.dump();
}

// Answers by rule. Greedy: right on every problem. Truncated sampling: the
// greedy program again. Untruncated sampling: right on even sample indices,
// a wrong program of its own on odd ones. Problem "p-wrong" gets a wrong
// program at every setting.
class ScriptedBackend : public GenerationBackend {
 public:
  absl::Status Use(const v1::WeightsRef&, const std::string&) override { return absl::OkStatus(); }
  absl::Status Generate(const std::vector<BackendRequest>& requests, bool,
                        const std::function<void(BackendSample)>& on_sample, const std::atomic<bool>* cancel) override {
    if (cancel != nullptr && cancel->load()) return absl::CancelledError("cancelled");
    for (const BackendRequest& r : requests) {
      calls.push_back(
          {r.settings.temperature, r.settings.top_k, r.settings.seed, static_cast<int64_t>(r.sample_indices.size())});
      for (int64_t i : r.sample_indices) {
        const std::string& id = r.problem->id();
        std::string code = "print(1)  # right";
        const bool sampled_untruncated = r.settings.temperature > 0 && r.settings.top_k == 0;
        if (id == "p-wrong") {
          code = "print(0)  # wrong";
        } else if (sampled_untruncated && i % 2 == 1) {
          code = absl::StrCat("print(", i, ")  # wrong");
        }
        BackendSample s;
        s.problem_id = id;
        s.sample_index = i;
        s.text = absl::StrCat("Here it is:\n```python\n", code, "\n```\n");
        on_sample(std::move(s));
      }
    }
    return absl::OkStatus();
  }
  BackendStats stats() const override { return {}; }

  // (temperature, top_k, seed, samples) per problem request.
  std::vector<std::tuple<double, int64_t, uint64_t, int64_t>> calls;
};

// A sandbox that speaks the harness's protocol, batches included: a program
// passes when it says "# right". With `fail` every run fails as the sandbox
// itself would.
class HarnessLikeSandbox : public FakeSandbox {
 public:
  explicit HarnessLikeSandbox(bool fail = false) : FakeSandbox(Script(fail), /*max_parallel=*/2, true) {}

  // How many programs each run graded.
  std::vector<int> programs_per_run() {
    std::vector<int> out;
    for (const SandboxCommand& c : commands()) {
      const nlohmann::json job = nlohmann::json::parse(c.stdin_data);
      out.push_back(job.contains("items") ? static_cast<int>(job["items"].size()) : 1);
    }
    return out;
  }

 private:
  static FakeSandbox::Script Script(bool fail) {
    return [fail](const SandboxCommand& command) -> absl::StatusOr<ProcessRunResult> {
      if (fail) return absl::ResourceExhaustedError("fork: out of processes");
      const nlohmann::json job = nlohmann::json::parse(command.stdin_data);
      auto verdict = [](const nlohmann::json& j) {
        return absl::StrContains(j["code"].get<std::string>(), "# right") ? "pass" : "wrong_answer";
      };
      ProcessRunResult r;
      r.exit_code = 0;
      if (!job.contains("items")) {
        r.out = nlohmann::json({{"test", 0}, {"verdict", verdict(job)}}).dump() + "\n{\"done\": true}\n";
        return r;
      }
      for (size_t i = 0; i < job["items"].size(); ++i) {
        r.out += nlohmann::json({{"item", i}, {"test", 0}, {"verdict", verdict(job["items"][i])}}).dump() + "\n";
        r.out += nlohmann::json({{"item", i}, {"done", true}}).dump() + "\n";
      }
      return r;
    };
  }
};

// Temperatures {0, 0.6}, truncations {none, top-k 20 / top-p 0.8}, n = 4.
v1::ShardLease Lease(const std::vector<std::string>& ids) {
  v1::ShardLease lease;
  lease.mutable_lease()->set_kind(v1::LEASE_KIND_EVAL);
  lease.set_seed(100);
  for (const std::string& id : ids) {
    v1::Problem* p = lease.add_tasks()->mutable_problem();
    p->set_id(id);
    p->set_raw_prompt("solve " + id);
    p->set_benchmark_line(BenchmarkLine(id));
  }
  v1::EvalTask* ev = lease.mutable_eval();
  ev->add_temperatures(0);
  ev->add_temperatures(0.6);
  ev->set_n(4);
  ev->set_max_tokens(64);
  ev->add_truncations();
  v1::Truncation* t = ev->add_truncations();
  t->set_top_k(20);
  t->set_top_p(0.8);
  return lease;
}

// c per (problem, temperature, truncation).
std::map<std::tuple<std::string, double, int>, int> Outcomes(const v1::ShardDone& done) {
  std::map<std::tuple<std::string, double, int>, int> out;
  for (const v1::EvalOutcome& o : done.eval_outcomes()) {
    EXPECT_EQ(o.n(), 4);
    out[{o.problem_id(), o.temperature(), o.truncation()}] = o.c();
  }
  return out;
}

TEST(EvalShardTest, EveryProblemGetsAPassCountPerTemperatureAndTruncation) {
  ScriptedBackend backend;
  HarnessLikeSandbox sandbox;
  v1::ShardDone done;
  EvalShardStats stats;
  ASSERT_TRUE(EvaluateShard(Lease({"p0", "p-wrong"}), backend, sandbox, GradeOptions{}, nullptr, &done, &stats).ok());
  ASSERT_EQ(done.eval_outcomes_size(), 2 * 2 * 2);
  const auto c = Outcomes(done);
  // Greedy: one right answer counted n times, the same for both truncations.
  EXPECT_EQ((c.at({"p0", 0.0, 0})), 4);
  EXPECT_EQ((c.at({"p0", 0.0, 1})), 4);
  // T 0.6 untruncated: samples 0 and 2 right, 1 and 3 wrong; truncated: all
  // right.
  EXPECT_EQ((c.at({"p0", 0.6, 0})), 2);
  EXPECT_EQ((c.at({"p0", 0.6, 1})), 4);
  for (double t : {0.0, 0.6}) {
    for (int k : {0, 1}) EXPECT_EQ((c.at({"p-wrong", t, k})), 0) << t << " " << k;
  }
  // The outcomes come in the lease's order: temperature, then truncation, then
  // problem.
  EXPECT_EQ(done.eval_outcomes(0).problem_id(), "p0");
  EXPECT_EQ(done.eval_outcomes(1).problem_id(), "p-wrong");
  EXPECT_EQ(done.eval_outcomes(2).truncation(), 1);
  EXPECT_EQ(done.eval_outcomes(4).temperature(), 0.6);
}

TEST(EvalShardTest, GreedyIsDecodedOnceAndEachTemperatureKeepsOneSeed) {
  ScriptedBackend backend;
  HarnessLikeSandbox sandbox;
  v1::ShardDone done;
  ASSERT_TRUE(EvaluateShard(Lease({"p0"}), backend, sandbox, GradeOptions{}, nullptr, &done, nullptr).ok());
  // Greedy once with one sample, then T 0.6 at each truncation with n samples.
  ASSERT_EQ(backend.calls.size(), 3u);
  EXPECT_EQ(backend.calls[0], std::make_tuple(0.0, int64_t{0}, uint64_t{100}, int64_t{1}));
  EXPECT_EQ(backend.calls[1], std::make_tuple(0.6, int64_t{0}, uint64_t{101}, int64_t{4}));
  EXPECT_EQ(backend.calls[2], std::make_tuple(0.6, int64_t{20}, uint64_t{101}, int64_t{4}));
}

TEST(EvalShardTest, TheShardIsGradedInOnePassSoEachProgramRunsOnceInFullBatches) {
  ScriptedBackend backend;
  HarnessLikeSandbox sandbox;
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(absl::StrCat("p", i));
  v1::ShardDone done;
  EvalShardStats stats;
  ASSERT_TRUE(EvaluateShard(Lease(ids), backend, sandbox, GradeOptions{}, nullptr, &done, &stats).ok());
  // 10 problems x (1 greedy + 4 + 4) answers; per problem the distinct
  // programs are the right one and the wrong ones of samples 1 and 3.
  EXPECT_EQ(stats.answers_graded, 90);
  EXPECT_EQ(stats.distinct_programs, 30);
  EXPECT_EQ(stats.answers_reused, 60);
  // 30 programs in batches of 8: three full runs and one of 6. Graded one
  // setting at a time, the same programs went out in 8 runs of 1 to 5.
  std::vector<int> runs = sandbox.programs_per_run();
  std::sort(runs.begin(), runs.end());
  EXPECT_EQ(runs, (std::vector<int>{6, 8, 8, 8}));
}

TEST(EvalShardTest, AnAnswerTheSandboxCouldNotGradeFailsTheShardNamingTheProblem) {
  ScriptedBackend backend;
  HarnessLikeSandbox sandbox(/*fail=*/true);
  v1::ShardDone done;
  const absl::Status s = EvaluateShard(Lease({"p7"}), backend, sandbox, GradeOptions{}, nullptr, &done, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(s.message(), "grading p7")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "out of processes")) << s;
  EXPECT_EQ(done.eval_outcomes_size(), 0);
}

TEST(EvalShardTest, ABrokenBenchmarkLineIsRefusedBeforeAnyDecode) {
  ScriptedBackend backend;
  HarnessLikeSandbox sandbox;
  v1::ShardLease lease = Lease({"p0", "p1"});
  lease.mutable_tasks(1)->mutable_problem()->set_benchmark_line("{\"question_id\": ");
  v1::ShardDone done;
  const absl::Status s = EvaluateShard(lease, backend, sandbox, GradeOptions{}, nullptr, &done, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "eval problem \"p1\"")) << s;
  EXPECT_TRUE(backend.calls.empty());
  EXPECT_TRUE(sandbox.programs_per_run().empty());
}

TEST(EvalShardTest, ACancelledDecodeFailsTheShardWithoutGrading) {
  ScriptedBackend backend;
  HarnessLikeSandbox sandbox;
  std::atomic<bool> cancel{true};
  v1::ShardDone done;
  const absl::Status s = EvaluateShard(Lease({"p0"}), backend, sandbox, GradeOptions{}, &cancel, &done, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(sandbox.programs_per_run().empty());
  EXPECT_EQ(done.eval_outcomes_size(), 0);
}

}  // namespace
}  // namespace ssd
