// `ssd eval-code`: grade given solutions against a benchmark, no model.
#ifndef SSD_COMMON_CLI_EVAL_COMMANDS_H_
#define SSD_COMMON_CLI_EVAL_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

void RegisterEvalCommands(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_COMMON_CLI_EVAL_COMMANDS_H_
