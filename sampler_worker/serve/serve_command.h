// `ssd serve`: a model behind the OpenAI HTTP API (openai_server.h).
#ifndef SSD_SAMPLER_WORKER_SERVE_SERVE_COMMAND_H_
#define SSD_SAMPLER_WORKER_SERVE_SERVE_COMMAND_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

void RegisterServeCommand(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_SERVE_SERVE_COMMAND_H_
