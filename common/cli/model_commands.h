// `ssd model init|logits|generate|info` and `ssd env`.
#ifndef SSD_COMMON_CLI_MODEL_COMMANDS_H_
#define SSD_COMMON_CLI_MODEL_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

// Adds the `model` subcommand tree and `env` to `app`. `*run` is set to the action of
// the chosen command; it returns the process exit code.
void RegisterModelCommands(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_COMMON_CLI_MODEL_COMMANDS_H_
