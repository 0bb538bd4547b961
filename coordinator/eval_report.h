// From graded eval outcomes to the report `ssd watch` and `ssd status`
// show: pass@k per decode setting (temperature and truncation), by
// difficulty, with bootstrap intervals, and the setting chosen on the tuning
// split with its pass@k on the held-out split (common/eval/metrics.h does the
// statistics).
#ifndef SSD_COORDINATOR_EVAL_REPORT_H_
#define SSD_COORDINATOR_EVAL_REPORT_H_

#include <string>
#include <vector>

#include "ssd/v1/job.pb.h"
#include "ssd/v1/worker_service.pb.h"

namespace ssd {

struct EvalProblemInfo {
  std::string id;
  std::string difficulty;
};

// `outcomes` holds one entry per (problem, temperature, truncation) graded;
// EvalOutcome.truncation indexes `truncations`. The report lists the
// settings truncation-major: every temperature of truncations[0], then of
// truncations[1], and so on.
v1::EvalReport BuildEvalReport(int round, const v1::EvalSpec& spec, const std::vector<double>& temperatures,
                               const std::vector<v1::Truncation>& truncations,
                               const std::vector<EvalProblemInfo>& problems,
                               const std::vector<v1::EvalOutcome>& outcomes);

// "none", or the parts that are on: "top_k 20, top_p 0.8".
std::string TruncationLabel(const v1::Truncation& t);

// A Markdown table of one report (pass@k [lo, hi] in percent per
// temperature and group).
std::string FormatEvalReport(const v1::EvalReport& report);

}  // namespace ssd

#endif  // SSD_COORDINATOR_EVAL_REPORT_H_
