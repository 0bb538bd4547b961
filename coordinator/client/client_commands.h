// The users' commands: `ssd submit`, `watch`, `jobs`, `status`, `cancel`,
// `workers`, `stats`, `export`, `import`, and `ssd local`, which runs a job
// on a whole cluster it starts on this machine.
#ifndef SSD_COORDINATOR_CLIENT_CLIENT_COMMANDS_H_
#define SSD_COORDINATOR_CLIENT_CLIENT_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

// Adds the subcommands to `app`; the chosen one stores its action in *run.
void RegisterClientCommands(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_COORDINATOR_CLIENT_CLIENT_COMMANDS_H_
