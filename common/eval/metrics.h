// pass@k with bootstrap confidence intervals, and the choice of decoding
// temperature on a held-out split.
//
// pass@k is the unbiased estimator of Chen et al. (2021): with n samples of
// which c pass, 1 - C(n-c, k) / C(n, k), averaged over problems. A k larger
// than the smallest n in a group is not reported. Confidence intervals
// resample problems with replacement (percentile bootstrap), so they reflect
// which problems happened to be in the benchmark.
#ifndef SSD_COMMON_EVAL_METRICS_H_
#define SSD_COMMON_EVAL_METRICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/eval/benchmark.h"
#include "common/eval/grader.h"
#include "nlohmann/json.hpp"

namespace ssd {

// Precondition: 0 <= c <= n, 1 <= k <= n.
double PassAtK(int n, int c, int k);

// How one problem fared: n graded samples, c of them passing.
struct ProblemOutcome {
  std::string question_id;
  std::string difficulty;
  int n = 0;
  int c = 0;
};

// Groups results by question_id (first-seen order). Results with an error
// (never graded) are left out.
std::vector<ProblemOutcome> TallyOutcomes(const Benchmark& benchmark, const std::vector<SolutionResult>& results);

struct Estimate {
  double value = 0;
  double ci_low = 0;
  double ci_high = 0;
};

struct BootstrapOptions {
  int resamples = 2000;
  double confidence = 0.95;
  uint64_t seed = 20250201;
  absl::Status Validate() const;
};

// The mean of `values` and its percentile-bootstrap interval. Deterministic
// for a given seed. Empty input gives zeros.
Estimate BootstrapMean(const std::vector<double>& values, const BootstrapOptions& options);

struct PassAtKGroup {
  std::string name;  // "overall", or a difficulty
  int num_problems = 0;
  int min_samples = 0;
  std::map<int, Estimate> pass_at_k;  // k -> estimate, only k <= min_samples
};

struct PassAtKReport {
  PassAtKGroup overall;
  std::vector<PassAtKGroup> by_difficulty;  // easy, medium, hard first, then others
};

PassAtKReport ComputePassAtK(const std::vector<ProblemOutcome>& outcomes, const std::vector<int>& ks = {1, 5, 10},
                             const BootstrapOptions& options = {});

nlohmann::json PassAtKReportToJson(const PassAtKReport& report);
// A Markdown table: group, problems, then "pass@k [lo, hi]" per k, in percent.
std::string FormatPassAtKTable(const PassAtKReport& report);

// A deterministic split of problems by id: the same id always lands on the
// same side, whatever else is in the benchmark and in whatever order.
struct HeldOutSplit {
  double held_out_fraction = 0.5;
  uint64_t seed = 0;
  bool IsHeldOut(absl::string_view question_id) const;
  absl::Status Validate() const;
};

struct TemperatureResults {
  double temperature = 0;
  std::vector<ProblemOutcome> outcomes;
  // The rest of the decode setting (e.g. "top_k 20, top_p 0.8"), when
  // candidates share a temperature; empty when only temperatures vary.
  std::string setting;
};

struct TemperatureSelection {
  double temperature = 0;
  int index = 0;  // of the chosen candidate, in input order
  // pass@1 of every candidate on the tuning side, in input order.
  std::vector<std::pair<double, double>> tune_pass_at_1;
  int tune_problems = 0;
  int held_out_problems = 0;
  // The chosen temperature's pass@1 on problems that played no part in
  // choosing it.
  Estimate held_out_pass_at_1;
  // The chosen candidate's outcomes on the held-out side, for pass@k of
  // every k and by difficulty.
  std::vector<ProblemOutcome> held_out;
};

// Picks the candidate with the best pass@1 on the tuning side of `split`
// (ties go to the lower temperature, then to the earlier candidate) and
// reports it on the held-out side. Errors name the bad candidate: a
// duplicate (temperature, setting), no outcomes, or a side of the split left
// empty.
absl::StatusOr<TemperatureSelection> SelectBestTemperature(const std::vector<TemperatureResults>& candidates,
                                                           const HeldOutSplit& split,
                                                           const BootstrapOptions& options = {});

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_METRICS_H_
