// `ssd trainer`: the trainer worker daemon (trainer_daemon.h), one process
// or --nproc of them.
#ifndef SSD_TRAINER_WORKER_TRAINER_COMMAND_H_
#define SSD_TRAINER_WORKER_TRAINER_COMMAND_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

// Adds the subcommand to `app`; when chosen, it stores its action in *run.
void RegisterTrainerCommand(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_TRAINER_COMMAND_H_
