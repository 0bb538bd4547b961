// `ssd analyze`: the mechanism report, base against tuned model, on the same
// solutions sampled from the base (common/analysis/mechanism_summary.h).
#ifndef SSD_COMMON_CLI_ANALYZE_COMMANDS_H_
#define SSD_COMMON_CLI_ANALYZE_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

void RegisterAnalyzeCommands(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_COMMON_CLI_ANALYZE_COMMANDS_H_
