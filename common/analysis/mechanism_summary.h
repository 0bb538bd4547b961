// The data of `ssd analyze`'s mechanism analysis (mechanism.h computes it,
// mechanism_report.h renders it): how SSD reshaped a model's
// next-token distributions, measured on the same solutions for the base and
// the tuned model.
//
// Solutions are sampled from the base (by default at SSD's data setting,
// T 1.5 / top-k 20 / top-p 0.8). Both models then score every position of
// every solution by teacher forcing: the distribution over the token that
// follows the prompt and the solution so far (next_token_stats.h).
//
// Positions are split by the base's distribution:
//   lock  the base's top token holds at least `lock_share` of its top-k
//         mass: one continuation is right, and whatever probability lies
//         outside the top k is a distractor tail that T = 1 sampling can
//         derail on;
//   fork  the base spreads its top-k mass over several tokens: several
//         continuations are plausible.
// The paper's claim is that SSD cuts the tail at locks while keeping the
// head's spread at forks; the report shows both groups for both models.
#ifndef SSD_COMMON_ANALYSIS_MECHANISM_SUMMARY_H_
#define SSD_COMMON_ANALYSIS_MECHANISM_SUMMARY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/analysis/next_token_stats.h"
#include "common/sampling/sampling_params.h"

namespace ssd {

struct MechanismOptions {
  SamplingParams params;     // how the shared solutions are drawn from the base
  int64_t top_k = 20;        // the tail is the mass outside each model's top k
  double lock_share = 0.9;   // lock: the base's top token holds >= this share of its top-k mass
  int64_t max_problems = 0;  // analyse the first this many problems (0: all)
  absl::Status Validate(int64_t vocab_size) const;
};

// One solution and both models' statistics at each of its positions.
struct ScoredSolution {
  std::string question_id;
  int64_t sample_index = 0;
  std::vector<int64_t> prompt_ids;
  std::vector<int64_t> completion_ids;      // as sampled, a final stop token included
  std::vector<NextTokenStats> base, tuned;  // one per completion id
};

enum class PositionGroup { kLock, kFork };
PositionGroup GroupOf(const NextTokenStats& base, double lock_share);

// Means over one group's positions, per model.
struct ModelGroupMeans {
  double entropy = 0, tail_mass = 0, head_entropy = 0, token_prob = 0, top1_share = 0;
  double median_tail_mass = 0;
};

struct GroupSummary {
  int64_t positions = 0;
  ModelGroupMeans base, tuned;
  double share_tail_fell = 0;       // positions where the tuned tail is below the base's
  double share_argmax_changed = 0;  // positions where the two models' top tokens differ
};

struct MechanismReport {
  MechanismOptions options;
  std::string base_dir, tuned_dir, benchmark_path;
  std::vector<ScoredSolution> solutions;
  std::vector<std::string> errors;  // problems that could not be prompted or scored
  GroupSummary lock, fork, all;
};

// Fills the summaries of `report` from its solutions.
void SummarizeMechanism(MechanismReport& report);

}  // namespace ssd

#endif  // SSD_COMMON_ANALYSIS_MECHANISM_SUMMARY_H_
