// Renders a MechanismReport (mechanism_summary.h) for people and scripts:
//   FormatMechanismSummary   the text summary `ssd analyze` prints;
//   MechanismReportToJson    options, per-group means and the histograms;
//   MechanismPositionsJsonl  one line per solution: its ids and both models'
//                            statistics at every position;
//   MechanismReportHtml      a self-contained page (inline SVG, no network
//                            assets): the group means, the tail-mass
//                            histogram at locks, the head-entropy histogram
//                            at forks, and one solution token by token.
#ifndef SSD_COMMON_ANALYSIS_MECHANISM_REPORT_H_
#define SSD_COMMON_ANALYSIS_MECHANISM_REPORT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/analysis/mechanism_summary.h"
#include "nlohmann/json.hpp"

namespace ssd {

// Counts of values in equal bins over [lo, hi); values outside are put in
// the first or last bin.
struct Histogram {
  double lo = 0, hi = 1;
  std::vector<int64_t> counts;
};
Histogram MakeHistogram(const std::vector<double>& values, double lo, double hi, int bins);

// log10 of the tail mass at lock positions (floored at 1e-8), per model;
// and the head entropy at fork positions, per model.
struct MechanismHistograms {
  Histogram lock_log10_tail_base, lock_log10_tail_tuned;
  Histogram fork_head_entropy_base, fork_head_entropy_tuned;
};
MechanismHistograms ComputeMechanismHistograms(const MechanismReport& report);

std::string FormatMechanismSummary(const MechanismReport& report);
nlohmann::json MechanismReportToJson(const MechanismReport& report);
std::string MechanismPositionsJsonl(const MechanismReport& report);

// `token_text` turns one id into display text (it may be partial UTF-8; the
// page makes it valid).
std::string MechanismReportHtml(const MechanismReport& report, const std::function<std::string(int64_t)>& token_text);

}  // namespace ssd

#endif  // SSD_COMMON_ANALYSIS_MECHANISM_REPORT_H_
