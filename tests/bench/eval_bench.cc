// eval_bench: sandboxed test executions per second, against the same
// programs run without a sandbox in the same process, on the same cores.
//
//   build/bin/eval_bench [--problems 40] [--tests 10] [--parallel 2] [--repeats 3] [--smoke]
//   build/bin/eval_bench --sweep-parallel 1,2,4,8 [--repeats 5]   # the grading rate per --parallel
//
// Workloads:
//   synthetic    --problems stdin and functional problems, --tests tests
//                each, graded by the harness (one python per problem, a
//                forked child per program).
//   humaneval    the 164 HumanEval canonical solutions (one test each, so
//                python start-up dominates), when ../shared/data has them.
// Rows compare the bubblewrap sandbox with UnsafeSandbox (same harness,
// same rlimits, no namespaces). For context the synthetic workload is also
// run the naive way, one python process per test, with and without bwrap.
// A second table compares bubblewrap with a run per program against
// batches of programs in one run (GradeOptions::max_batch). A third grades
// eval shards the way a sampler does (sampler_worker/eval_shard.h): 10
// problems at 5 settings, with the copies and the wrong answers a sampled
// model gives, graded once per setting (the baseline) against once per
// shard. A fourth grades in batches with a forked child per test (the
// baseline, GradeOptions::fork_per_test) against one per program.
// Reports medians of --repeats; asserts nothing about time.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/eval/benchmark.h"
#include "common/eval/grade_memo.h"
#include "common/eval/grader.h"
#include "common/eval/sandbox.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Workload {
  Benchmark bench;
  std::vector<Solution> solutions;
  int executions = 0;
};

Workload Synthetic(int problems, int tests) {
  Workload w;
  for (int p = 0; p < problems; ++p) {
    Problem pr;
    pr.question_id = absl::StrCat("syn_", p);
    const bool functional = p % 2 == 1;
    pr.test_type = functional ? TestType::kFunctional : TestType::kStdin;
    pr.func_name = "total";
    for (int t = 0; t < tests; ++t) {
      const int a = p * 7 + t, b = t * 3 + 1;
      if (functional) {
        pr.tests.push_back({absl::StrCat("[", a, ", ", b, "]\n", t), absl::StrCat(a + b + t)});
      } else {
        pr.tests.push_back({absl::StrCat("3\n", a, " ", b, " ", t, "\n"), absl::StrCat(a + b + t, "\n")});
      }
    }
    w.executions += tests;
    w.bench.index[pr.question_id] = w.bench.problems.size();
    w.bench.problems.push_back(std::move(pr));
    w.solutions.push_back({absl::StrCat("syn_", p),
                           functional ? "class Solution:\n    def total(self, xs, t):\n        return sum(xs) + t\n"
                                      : "n = int(input())\nprint(sum(map(int, input().split()[:n])))\n"});
  }
  return w;
}

bool HumanEval(Workload* w) {
  const std::string path = SharedDataFile("HumanEval.jsonl.gz");
  if (access(path.c_str(), R_OK) != 0) return false;
  auto b = LoadBenchmark(path);
  if (!b.ok()) return false;
  // The canonical solutions are not kept by the loader: read them with gzip.
  std::string text;
  std::FILE* f = popen(("gzip -dc '" + path + "'").c_str(), "r");
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  pclose(f);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const nlohmann::json j = nlohmann::json::parse(text.substr(pos, end - pos), nullptr, false);
    pos = end + 1;
    if (!j.is_object()) continue;
    w->solutions.push_back({j["task_id"].get<std::string>(), j["canonical_solution"].get<std::string>()});
  }
  w->executions = static_cast<int>(w->solutions.size());
  w->bench = std::move(*b);
  return true;
}

// Tests per second over one grading of the workload; counts failures.
// max_batch 1: a sandbox run per program, as UnsafeSandbox always does.
double GradeRate(const Workload& w, Sandbox& sb, int* failures, int max_batch = 1, bool fork_per_test = false) {
  GradeOptions o;
  o.max_batch = max_batch;
  o.fork_per_test = fork_per_test;
  const double t0 = Now();
  const std::vector<SolutionResult> r = GradeSolutions(w.bench, w.solutions, sb, o);
  const double dt = Now() - t0;
  *failures = 0;
  for (const SolutionResult& s : r) *failures += !s.passed;
  return w.executions / dt;
}

// The naive way: one python per test (stdin problems only, the test's input
// on stdin), spread over `parallel` threads.
double NaiveRate(const Workload& w, Sandbox& sb, int parallel, int* failures) {
  std::vector<std::pair<const Problem*, const TestCase*>> jobs;
  for (size_t i = 0; i < w.bench.problems.size(); ++i) {
    const Problem& p = w.bench.problems[i];
    if (p.test_type != TestType::kStdin) continue;
    for (const TestCase& t : p.tests) jobs.push_back({&p, &t});
  }
  std::atomic<size_t> next{0};
  std::atomic<int> bad{0};
  const double t0 = Now();
  std::vector<std::thread> pool;
  for (int i = 0; i < parallel; ++i) {
    pool.emplace_back([&] {
      for (size_t j = next++; j < jobs.size(); j = next++) {
        SandboxCommand c;
        c.argv = {"/usr/bin/python3", "-I", "-c", w.solutions[w.bench.index.at(jobs[j].first->question_id)].code};
        c.env = {"PATH=/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"};
        c.stdin_data = jobs[j].second->input;
        auto r = sb.Run(c);
        if (!r.ok() || r->out != jobs[j].second->output) ++bad;
      }
    });
  }
  for (auto& t : pool) t.join();
  *failures = bad;
  return jobs.size() / (Now() - t0);
}

// An eval shard's answers: for each run of 10 problems of `w`, a greedy
// answer and 4 sampled settings of 5 answers each, as a sampler decodes
// them. Every answer is the right program except where (problem + setting +
// sample) % 3 == 0, which gets a wrong program of its own (it fails its
// first test).
struct ShardAnswers {
  std::vector<std::vector<std::vector<Solution>>> shards;  // [shard][setting]
  int executions = 0;
};

ShardAnswers EvalShards(const Workload& w) {
  ShardAnswers a;
  const size_t per_shard = 10;
  for (size_t first = 0; first < w.bench.problems.size(); first += per_shard) {
    std::vector<std::vector<Solution>> settings(5);
    std::set<std::pair<std::string, std::string>> distinct;
    for (size_t p = first; p < std::min(first + per_shard, w.bench.problems.size()); ++p) {
      const Problem& pr = w.bench.problems[p];
      const std::string& right = w.solutions[p].code;
      for (int s = 0; s < 5; ++s) {
        for (int i = 0; i < (s == 0 ? 1 : 5); ++i) {
          std::string code = right;
          if ((p + static_cast<size_t>(s + i)) % 3 == 0) {
            code = pr.test_type == TestType::kFunctional
                       ? absl::StrCat("class Solution:\n    def total(self, xs, t):\n        return ", s * 10 + i - 99,
                                      "\n")
                       : absl::StrCat("print(", s * 10 + i - 99, ")\n");
          }
          if (distinct.insert({pr.question_id, code}).second) {
            a.executions += code == right ? static_cast<int>(pr.tests.size()) : 1;
          }
          settings[static_cast<size_t>(s)].push_back({pr.question_id, code});
        }
      }
    }
    a.shards.push_back(std::move(settings));
  }
  return a;
}

// Test executions per second over every shard of `a`, each graded per
// setting (a GradeSolutions call per setting sharing one memo, as samplers
// did before eval_shard.h) or in one call; counts wrong verdicts.
double ShardGradeRate(const Workload& w, const ShardAnswers& a, Sandbox& sb, bool per_setting, int* wrong) {
  const double t0 = Now();
  *wrong = 0;
  for (const auto& shard : a.shards) {
    GradeMemo memo;
    std::vector<std::vector<Solution>> calls;
    if (per_setting) {
      calls = shard;
    } else {
      calls.emplace_back();
      for (const auto& setting : shard) calls[0].insert(calls[0].end(), setting.begin(), setting.end());
    }
    for (const std::vector<Solution>& call : calls) {
      const std::vector<SolutionResult> r = GradeSolutions(w.bench, call, sb, GradeOptions{}, &memo);
      for (size_t i = 0; i < r.size(); ++i) {
        const size_t p = w.bench.index.at(call[i].question_id);
        *wrong += r[i].passed != (call[i].code == w.solutions[p].code);
      }
    }
  }
  return a.executions / (Now() - t0);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void PrintComparisonHeader(const std::string& title, const char* baseline, const char* candidate) {
  std::printf("\n%s\n\n", title.c_str());
  std::printf("| %-36s | %11s | %11s | %6s |\n", "workload (test executions/s)", baseline, candidate, "ratio");
  std::printf("|%s|%s:|%s:|%s:|\n", std::string(38, '-').c_str(), std::string(12, '-').c_str(),
              std::string(12, '-').c_str(), std::string(7, '-').c_str());
}

// One row: medians of `repeats` runs of the baseline and the candidate,
// alternating, and their ratio. Failed solutions are added to *failures.
void PrintComparisonRow(const std::string& name, int repeats, const std::function<double(int*)>& baseline,
                        const std::function<double(int*)>& candidate, int* failures) {
  std::vector<double> b, c;
  for (int r = 0; r < repeats; ++r) {
    int fb = 0, fc = 0;
    b.push_back(baseline(&fb));
    c.push_back(candidate(&fc));
    *failures += fb + fc;
  }
  const double mb = Median(b), mc = Median(c);
  std::printf("| %-36s | %11.1f | %11.1f | %5.2fx |\n", name.c_str(), mb, mc, mc / mb);
}

double LoadAverage() {
  double l = 0;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = 0;
    std::fclose(f);
  }
  return l;
}

// Grading rate (bwrap) at each level of parallelism on each workload, the
// levels in a rotated order per repeat so drift in the machine's load does
// not favour one; ratios against the first level, medians of `repeats`.
int SweepParallel(const std::vector<int>& levels, const std::vector<std::pair<std::string, const Workload*>>& loads,
                  int repeats) {
  std::map<std::pair<size_t, int>, std::vector<double>> rate;
  std::vector<double> load_avg;
  int failures = 0;
  for (int r = 0; r < repeats; ++r) {
    for (size_t i = 0; i < levels.size(); ++i) {
      const int level = levels[(i + static_cast<size_t>(r)) % levels.size()];
      BwrapSandboxOptions bo;
      bo.max_parallel = level;
      auto sb = BwrapSandbox::Create(bo);
      if (!sb.ok()) {
        std::fprintf(stderr, "eval_bench: %s\n", std::string(sb.status().message()).c_str());
        return 1;
      }
      load_avg.push_back(LoadAverage());
      for (size_t w = 0; w < loads.size(); ++w) {
        int f = 0;
        rate[{w, level}].push_back(GradeRate(*loads[w].second, **sb, &f));
        failures += f;
      }
    }
  }
  std::printf(
      "eval_bench --sweep-parallel: bubblewrap, %d cores, medians of %d runs, levels rotated per run; "
      "load average %.2f (median at each level's start)\n\n",
      static_cast<int>(std::thread::hardware_concurrency()), repeats, Median(load_avg));
  std::printf("| %-36s |", "workload (test executions/s)");
  for (int level : levels) std::printf(" --parallel %d |", level);
  std::printf("\n|%s|", std::string(38, '-').c_str());
  for (size_t i = 0; i < levels.size(); ++i) std::printf("---:|");
  std::printf("\n");
  for (size_t w = 0; w < loads.size(); ++w) {
    std::printf("| %-36s |", loads[w].first.c_str());
    const double base = Median(rate[{w, levels[0]}]);
    for (int level : levels) {
      const double m = Median(rate[{w, level}]);
      std::printf(" %.1f (%.2fx) |", m, m / base);
    }
    std::printf("\n");
  }
  if (failures > 0) {
    std::fprintf(stderr, "eval_bench: %d solutions failed; the numbers are not comparable\n", failures);
    return 1;
  }
  return 0;
}

int Main(int argc, char** argv) {
  int problems = 40, tests = 10, parallel = 2, repeats = 3;
  bool smoke = false;
  std::vector<int> sweep;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--problems" && i + 1 < argc) {
      problems = std::atoi(argv[++i]);
    } else if (a == "--tests" && i + 1 < argc) {
      tests = std::atoi(argv[++i]);
    } else if (a == "--parallel" && i + 1 < argc) {
      parallel = std::atoi(argv[++i]);
    } else if (a == "--repeats" && i + 1 < argc) {
      repeats = std::atoi(argv[++i]);
    } else if (a == "--sweep-parallel" && i + 1 < argc) {
      for (const char* p = argv[++i]; *p != '\0';) {
        char* end = nullptr;
        const long v = std::strtol(p, &end, 10);
        if (end == p || v < 1) break;
        sweep.push_back(static_cast<int>(v));
        p = *end == ',' ? end + 1 : end;
      }
    } else if (a == "--smoke") {
      smoke = true;
      problems = 4, tests = 3, repeats = 1;
    } else {
      std::fprintf(stderr,
                   "usage: eval_bench [--problems N] [--tests N] [--parallel N] [--repeats N] "
                   "[--sweep-parallel 1,2,4,8] [--smoke]\n");
      return 2;
    }
  }
  if (!sweep.empty()) {
    const Workload syn = Synthetic(problems, tests);
    Workload he;
    std::vector<std::pair<std::string, const Workload*>> loads = {
        {absl::StrCat("synthetic, ", problems, "x", tests, " tests, harness"), &syn}};
    if (!smoke && HumanEval(&he)) loads.push_back({"HumanEval canonical, 164x1 test", &he});
    return SweepParallel(sweep, loads, repeats);
  }
  BwrapSandboxOptions bo;
  bo.max_parallel = parallel;
  auto bwrap = BwrapSandbox::Create(bo);
  if (!bwrap.ok()) {
    std::fprintf(stderr, "eval_bench: %s\n", std::string(bwrap.status().message()).c_str());
    return 1;
  }
  UnsafeSandbox unsafe(parallel);

  struct Row {
    std::string name;
    std::function<double(int*)> sandboxed, unsandboxed;
  };
  const Workload syn = Synthetic(problems, tests);
  Workload he;
  std::vector<Row> rows = {
      {absl::StrCat("synthetic, ", problems, "x", tests, " tests, harness"),
       [&](int* f) { return GradeRate(syn, **bwrap, f); }, [&](int* f) { return GradeRate(syn, unsafe, f); }},
      {"synthetic stdin, python per test", [&](int* f) { return NaiveRate(syn, **bwrap, parallel, f); },
       [&](int* f) { return NaiveRate(syn, unsafe, parallel, f); }},
  };
  if (!smoke && HumanEval(&he)) {
    rows.push_back({"HumanEval canonical, 164x1 test", [&](int* f) { return GradeRate(he, **bwrap, f); },
                    [&](int* f) { return GradeRate(he, unsafe, f); }});
  }
  std::printf("eval_bench: %d parallel, %d cores, medians of %d runs (sandboxed and unsandboxed alternate)\n\n",
              parallel, static_cast<int>(std::thread::hardware_concurrency()), repeats);
  std::printf("| %-36s | %10s | %12s | %6s |\n", "workload (test executions/s)", "bwrap", "no sandbox", "ratio");
  std::printf("|%s|%s:|%s:|%s:|\n", std::string(38, '-').c_str(), std::string(11, '-').c_str(),
              std::string(13, '-').c_str(), std::string(7, '-').c_str());
  int total_failures = 0;
  for (const Row& row : rows) {
    std::vector<double> s, u;
    for (int r = 0; r < repeats; ++r) {
      int fs = 0, fu = 0;
      s.push_back(row.sandboxed(&fs));
      u.push_back(row.unsandboxed(&fu));
      total_failures += fs + fu;
    }
    const double ms = Median(s), mu = Median(u);
    std::printf("| %-36s | %10.1f | %12.1f | %5.2fx |\n", row.name.c_str(), ms, mu, ms / mu);
  }

  // Batching: several programs graded one after another in one bubblewrap
  // run (the harness kills and cleans up between them), against a run per
  // program.
  std::vector<std::pair<std::string, const Workload*>> batched = {
      {absl::StrCat("synthetic, ", problems, "x", tests, " tests"), &syn}};
  if (!he.solutions.empty()) batched.push_back({"HumanEval canonical, 164x1 test", &he});
  const int max_batch = GradeOptions{}.max_batch;
  PrintComparisonHeader(absl::StrCat("bubblewrap, ", parallel,
                                     " parallel: a sandbox per program (baseline) against "
                                     "batches of up to ",
                                     max_batch),
                        "per program", "batched");
  for (const auto& [name, w] : batched) {
    PrintComparisonRow(
        name, repeats, [&, w = w](int* f) { return GradeRate(*w, **bwrap, f, 1); },
        [&, w = w](int* f) { return GradeRate(*w, **bwrap, f, max_batch); }, &total_failures);
  }

  // Eval shards, as a sampler grades them: per setting against per shard.
  const ShardAnswers shards = EvalShards(syn);
  size_t answers = 0;
  for (const auto& shard : shards.shards) {
    for (const auto& setting : shard) answers += setting.size();
  }
  PrintComparisonHeader(absl::StrCat("bubblewrap, ", parallel, " parallel: eval shards of 10 problems x 5 settings (",
                                     answers, " answers, ", shards.executions,
                                     " test executions once each), graded per setting (baseline) against per shard"),
                        "per setting", "per shard");
  PrintComparisonRow(
      absl::StrCat("synthetic, ", shards.shards.size(), " shards"), repeats,
      [&](int* f) { return ShardGradeRate(syn, shards, **bwrap, true, f); },
      [&](int* f) { return ShardGradeRate(syn, shards, **bwrap, false, f); }, &total_failures);

  // A program's tests: a forked child each against one child for them all,
  // in batches.
  PrintComparisonHeader(absl::StrCat("bubblewrap, ", parallel, " parallel, batches of up to ", max_batch,
                                     ": a child process per test (baseline) against one per program"),
                        "per test", "per program");
  for (const auto& [name, w] : batched) {
    PrintComparisonRow(
        name, repeats, [&, w = w](int* f) { return GradeRate(*w, **bwrap, f, max_batch, true); },
        [&, w = w](int* f) { return GradeRate(*w, **bwrap, f, max_batch, false); }, &total_failures);
  }
  if (total_failures > 0) {
    std::fprintf(stderr, "eval_bench: %d solutions failed; the numbers are not comparable\n", total_failures);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace ssd

int main(int argc, char** argv) { return ssd::Main(argc, argv); }
