// `ssd sampler`: the sampler worker daemon (sampler_daemon.h) over the
// native generation engine (engine_backend.h).
#ifndef SSD_SAMPLER_WORKER_SAMPLER_COMMAND_H_
#define SSD_SAMPLER_WORKER_SAMPLER_COMMAND_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

// Adds the subcommand to `app`; when chosen, it stores its action in *run.
void RegisterSamplerCommand(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_SAMPLER_COMMAND_H_
