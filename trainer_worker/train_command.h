// `ssd train`: supervised fine-tuning (SSD step 3) on chat JSONL, on one
// process, as one rank of a data-parallel job (--rank/--world-size/
// --master-addr/--master-port), or as a local launcher of N ranks (--nproc).
#ifndef SSD_TRAINER_WORKER_TRAIN_COMMAND_H_
#define SSD_TRAINER_WORKER_TRAIN_COMMAND_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

// Adds `train` to `app`; `*run` is set to its action (returns the exit code).
void RegisterTrainCommand(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_TRAIN_COMMAND_H_
