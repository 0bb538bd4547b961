// `ssd sample`: local batched generation with the sampling engine.
#ifndef SSD_COMMON_CLI_SAMPLE_COMMANDS_H_
#define SSD_COMMON_CLI_SAMPLE_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

void RegisterSampleCommands(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_COMMON_CLI_SAMPLE_COMMANDS_H_
