#include "sampler_worker/eval_shard.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/eval/benchmark.h"
#include "common/eval/grade_memo.h"
#include "common/eval/prompting.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

// One decode of the shard, a temperature with a truncation, and where its
// answers sit in the shard's list of solutions.
struct Setting {
  int temperature_index = 0;
  size_t truncation = 0;
  int64_t weight = 1;         // how many of the lease's n each generated answer counts for
  size_t first_solution = 0;  // its answers in the shard's list of solutions
  size_t num_solutions = 0;
};

}  // namespace

absl::Status EvaluateShard(const v1::ShardLease& lease, GenerationBackend& backend, Sandbox& sandbox,
                           GradeOptions grade, const std::atomic<bool>* cancel, v1::ShardDone* done,
                           EvalShardStats* stats) {
  Benchmark bench;
  for (const v1::ProblemTask& t : lease.tasks()) {
    auto p = ParseProblem(t.problem().benchmark_line());
    if (!p.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("eval problem \"", t.problem().id(), "\": ", p.status().message()));
    }
    bench.index[p->question_id] = bench.problems.size();
    bench.problems.push_back(std::move(*p));
  }
  const v1::EvalTask& ev = lease.eval();
  if (ev.timeout_s() > 0) grade.timeout_s = ev.timeout_s();
  // A lease from before truncations were a list carries its one truncation
  // in top_k / top_p / min_p.
  std::vector<v1::Truncation> truncations(ev.truncations().begin(), ev.truncations().end());
  if (truncations.empty()) {
    v1::Truncation t;
    t.set_top_k(ev.top_k());
    t.set_top_p(ev.top_p());
    t.set_min_p(ev.min_p());
    truncations.push_back(t);
  }

  // Decode every setting first.
  std::vector<Setting> settings;
  std::vector<Solution> solutions;
  for (int ti = 0; ti < ev.temperatures_size(); ++ti) {
    const double temperature = ev.temperatures(ti);
    for (size_t k = 0; k < truncations.size(); ++k) {
      if (temperature == 0 && k > 0) continue;  // the greedy decode stands for every truncation
      BackendSettings decode;
      decode.temperature = temperature;
      decode.top_k = truncations[k].top_k();
      decode.top_p = truncations[k].top_p();
      decode.min_p = truncations[k].min_p();
      decode.max_tokens = ev.max_tokens();
      // The same seed for every truncation of a temperature: the settings are
      // compared on the same random draws.
      decode.seed = lease.seed() + static_cast<uint64_t>(ti);
      const int64_t samples = temperature == 0 ? 1 : ev.n();
      Setting s;
      s.temperature_index = ti;
      s.truncation = k;
      s.weight = temperature == 0 ? ev.n() : 1;
      std::vector<BackendRequest> requests;
      for (const v1::ProblemTask& t : lease.tasks()) {
        BackendRequest r;
        r.problem = &t.problem();
        for (int64_t i = 0; i < samples; ++i) r.sample_indices.push_back(i);
        r.settings = decode;
        requests.push_back(std::move(r));
      }
      std::map<std::pair<std::string, int64_t>, std::string> outputs;
      RETURN_IF_ERROR(backend.Generate(
          requests, lease.enable_thinking(),
          [&](BackendSample b) {
            outputs[{b.problem_id, b.sample_index}] = std::move(b.text);
          },
          cancel));
      s.first_solution = solutions.size();
      for (const auto& [key, text] : outputs) solutions.push_back({key.first, ExtractCode(text)});
      s.num_solutions = solutions.size() - s.first_solution;
      settings.push_back(std::move(s));
    }
  }

  // Then grade them all at once.
  GradeMemo memo;
  const std::vector<SolutionResult> results = GradeSolutions(bench, solutions, sandbox, grade, &memo);
  for (const SolutionResult& r : results) {
    if (!r.error.empty()) return absl::InternalError(absl::StrCat("grading ", r.question_id, ": ", r.error));
  }
  if (stats != nullptr) {
    stats->answers_graded += static_cast<int64_t>(results.size());
    stats->answers_reused += memo.reused();
    stats->distinct_programs += memo.size();
  }

  // One outcome per problem, temperature and truncation, in the lease's order.
  std::vector<std::map<std::string, int>> passed(static_cast<size_t>(ev.temperatures_size()) * truncations.size());
  auto at = [&](int ti, size_t k) -> std::map<std::string, int>& {
    return passed[static_cast<size_t>(ti) * truncations.size() + k];
  };
  for (const Setting& s : settings) {
    std::map<std::string, int>& count = at(s.temperature_index, s.truncation);
    for (size_t i = s.first_solution; i < s.first_solution + s.num_solutions; ++i) {
      if (results[i].passed) count[results[i].question_id] += static_cast<int>(s.weight);
    }
  }
  for (int ti = 0; ti < ev.temperatures_size(); ++ti) {
    for (size_t k = 0; k < truncations.size(); ++k) {
      const bool greedy_copy = ev.temperatures(ti) == 0 && k > 0;
      std::map<std::string, int>& count = at(ti, greedy_copy ? 0 : k);
      for (const v1::ProblemTask& t : lease.tasks()) {
        v1::EvalOutcome* o = done->add_eval_outcomes();
        o->set_problem_id(t.problem().id());
        o->set_temperature(ev.temperatures(ti));
        o->set_truncation(static_cast<int32_t>(k));
        o->set_n(static_cast<int32_t>(ev.n()));
        o->set_c(count[t.problem().id()]);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ssd
