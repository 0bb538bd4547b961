// From a benchmark and its reference solutions to ml-ssd chat JSONL that a
// base model is trained on: the user turn is the problem's SSD prompt (the
// same text the coordinator samples with), the assistant turn the reference
// code in a ```python fence, which is how graders extract code from answers.
//
// Optionally a spread "distractor tail" is put into the answers: each code
// word (a run of letters, digits and '_') is, with probability tail_noise,
// replaced by a word drawn uniformly from the tokenizer's vocabulary. A
// model trained on such data stays sure of the right token but keeps a thin
// tail over thousands of wrong ones, the regime where truncated sampling
// (top-k/top-p) cuts what plain T = 1 sampling keeps.
#ifndef SSD_COMMON_EVAL_REFERENCE_SFT_H_
#define SSD_COMMON_EVAL_REFERENCE_SFT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/eval/benchmark.h"
#include "common/eval/grader.h"
#include "common/tokenizer/ssd_prompts.h"
#include "common/tokenizer/tokenizer.h"

namespace ssd {

struct ReferenceSftOptions {
  PromptTemplates templates = DefaultSsdPrompts();
  // Share of code words replaced by a random vocabulary word, in [0, 0.5].
  double tail_noise = 0;
  // Seeds the noise; the same inputs and seed give the same lines.
  uint64_t seed = 1;
  // Where the replacement words come from; required when tail_noise > 0.
  const Tokenizer* tokenizer = nullptr;
  absl::Status Validate() const;
};

struct ReferenceSft {
  std::vector<std::string> lines;  // {"messages": [...]}, no trailing newline
  int64_t words = 0;               // code words seen
  int64_t words_replaced = 0;
  // "question_id: what is wrong" for solutions that were skipped (unknown
  // problem); a problem without a solution is not an error.
  std::vector<std::string> errors;
};

// One line per solution, in the solutions' order. Fails on invalid options,
// or when the tokenizer has no whole-word token to draw from.
absl::StatusOr<ReferenceSft> MakeReferenceSft(const Benchmark& benchmark, const std::vector<Solution>& solutions,
                                              const ReferenceSftOptions& options);

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_REFERENCE_SFT_H_
