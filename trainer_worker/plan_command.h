// `ssd plan`: the memory planner (memory_plan.h) on a job spec, a model
// folder or a bare config.json, before any weights are read.
#ifndef SSD_TRAINER_WORKER_PLAN_COMMAND_H_
#define SSD_TRAINER_WORKER_PLAN_COMMAND_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

// Adds `plan` to `app`; `*run` is set to its action (returns the exit code).
void RegisterPlanCommand(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_PLAN_COMMAND_H_
