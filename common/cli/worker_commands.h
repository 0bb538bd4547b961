// `ssd sampler` and `ssd trainer`: the worker daemons. Flags only; the
// logic is in sampler_worker/ and trainer_worker/.
#ifndef SSD_COMMON_CLI_WORKER_COMMANDS_H_
#define SSD_COMMON_CLI_WORKER_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

void RegisterWorkerCommands(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_COMMON_CLI_WORKER_COMMANDS_H_
