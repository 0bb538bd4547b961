// From graded eval outcomes to the report `ssd watch` and `ssd status`
// show: pass@k per temperature, by difficulty, with bootstrap intervals, and
// the temperature chosen on the tuning split with its pass@1 on the held-out
// split (common/eval/metrics.h does the statistics).
#ifndef SSD_COORDINATOR_EVAL_REPORT_H_
#define SSD_COORDINATOR_EVAL_REPORT_H_

#include <string>
#include <vector>

#include "ssd/v1/coordinator.pb.h"
#include "ssd/v1/job.pb.h"

namespace ssd {

struct EvalProblemInfo {
  std::string id;
  std::string difficulty;
};

// `outcomes` holds one entry per (problem, temperature) graded.
v1::EvalReport BuildEvalReport(int round, const v1::EvalSpec& spec, const std::vector<double>& temperatures,
                               const std::vector<EvalProblemInfo>& problems,
                               const std::vector<v1::EvalOutcome>& outcomes);

// A Markdown table of one report (pass@k [lo, hi] in percent per
// temperature and group).
std::string FormatEvalReport(const v1::EvalReport& report);

}  // namespace ssd

#endif  // SSD_COORDINATOR_EVAL_REPORT_H_
