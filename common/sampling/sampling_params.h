// SamplingParams: how one request's tokens are drawn, with vLLM's meanings.
#ifndef SSD_COMMON_SAMPLING_SAMPLING_PARAMS_H_
#define SSD_COMMON_SAMPLING_SAMPLING_PARAMS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ssd {

// The most alternatives SamplingParams::logprobs may ask for (OpenAI's
// top_logprobs limit).
inline constexpr int64_t kMaxLogprobs = 20;

struct SamplingParams {
  int64_t n = 1;                    // samples per prompt
  double temperature = 1.0;         // 0 means greedy (argmax)
  int64_t top_k = 0;                // <= 0 (or >= vocab): off
  double top_p = 1.0;               // in (0, 1]; 1 is off
  double min_p = 0.0;               // in [0, 1]; 0 is off
  double repetition_penalty = 1.0;  // > 0; 1 is off
  int64_t max_tokens = 16;          // generated tokens, > 0
  // vLLM's min_tokens: no stop id can be drawn, and no stop string ends
  // the text, before this many tokens; in [0, max_tokens]. A length
  // limit (max_tokens, the context) still ends a sample.
  int64_t min_tokens = 0;
  // Finish with reason "stop" after one of these ids (kept in the ids,
  // left out of the text). Empty: the engine's default stop ids.
  std::vector<int64_t> stop_token_ids;
  // vLLM's ignore_eos: the engine's default stop ids do not apply, only
  // stop_token_ids (which may then be empty).
  bool ignore_eos = false;
  // Finish with reason "stop" when the decoded text contains one of these;
  // the text is cut before it (vLLM's default).
  std::vector<std::string> stop;
  uint64_t seed = 0;
  // OpenAI's logprobs: -1 reports none; k >= 0 reports, per generated
  // token, its log-probability and the k most likely tokens' (k <= 20), all
  // from the model's raw distribution (log-softmax of the logits, before
  // temperature, penalties and truncation; vLLM's default).
  int64_t logprobs = -1;

  // Checks every field against its range and the model's vocabulary; the
  // error names the field and the bad value.
  absl::Status Validate(int64_t vocab_size) const;
  bool greedy() const { return temperature == 0.0; }
};

}  // namespace ssd

#endif  // SSD_COMMON_SAMPLING_SAMPLING_PARAMS_H_
