// `ssd tokenize` and `ssd detokenize`.
#ifndef SSD_COMMON_CLI_TOKENIZER_COMMANDS_H_
#define SSD_COMMON_CLI_TOKENIZER_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace ssd {

void RegisterTokenizerCommands(CLI::App& app, std::function<int()>* run);

}  // namespace ssd

#endif  // SSD_COMMON_CLI_TOKENIZER_COMMANDS_H_
