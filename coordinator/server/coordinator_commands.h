// `ssd coordinator` (the daemon) and `ssd certs init` (development TLS
// material for it and its clients).
#ifndef SSD_COORDINATOR_SERVER_COORDINATOR_COMMANDS_H_
#define SSD_COORDINATOR_SERVER_COORDINATOR_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

// Adds the subcommands to `app`; the chosen one stores its action in *run.
void RegisterCoordinatorCommands(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_COORDINATOR_SERVER_COORDINATOR_COMMANDS_H_
