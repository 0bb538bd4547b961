// The prompt token ids of a problem, as every generation backend sends it:
// messages_json rendered with the model folder's chat template (generation
// prompt added, enable_thinking as the job says), or the raw prompt; special
// tokens recognised, no BOS added. A model without a chat template gets a
// one-message conversation's content raw. Torch-free.
#ifndef SSD_SAMPLER_WORKER_PROBLEM_PROMPT_H_
#define SSD_SAMPLER_WORKER_PROBLEM_PROMPT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "ssd/v1/types.pb.h"

namespace ssd {

// `chat` may be null. Errors name the problem.
absl::StatusOr<std::vector<int64_t>> ProblemPromptIds(const v1::Problem& problem, const ChatTemplate* chat,
                                                      const Tokenizer& tokenizer, bool enable_thinking);

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_PROBLEM_PROMPT_H_
