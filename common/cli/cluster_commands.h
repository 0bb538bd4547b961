// The cluster commands: `ssd coordinator` (the daemon), `ssd certs init`,
// and the clients `ssd submit/jobs/status/watch/cancel/workers/stats/export/
// import`. Flags only; the logic is in coordinator/ and coordinator/client/.
#ifndef SSD_COMMON_CLI_CLUSTER_COMMANDS_H_
#define SSD_COMMON_CLI_CLUSTER_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

void RegisterClusterCommands(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_COMMON_CLI_CLUSTER_COMMANDS_H_
