// `ssd filter`: SSD's filter over sample files, with the same code and
// defaults as the coordinator's FILTERING stage (common/filter).
#ifndef SSD_COMMON_CLI_FILTER_COMMANDS_H_
#define SSD_COMMON_CLI_FILTER_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

void RegisterFilterCommands(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_COMMON_CLI_FILTER_COMMANDS_H_
