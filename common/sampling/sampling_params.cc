#include "common/sampling/sampling_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace ssd {

absl::Status SamplingParams::Validate(int64_t vocab_size) const {
  auto bad = [](const char* field, auto value, const char* want) {
    return absl::InvalidArgumentError(absl::StrCat(field, " = ", value, ": ", want));
  };
  if (n < 1) return bad("n", n, "must be at least 1");
  if (!std::isfinite(temperature) || temperature < 0) {
    return bad("temperature", temperature, "must be finite and >= 0 (0 means greedy)");
  }
  if (!(top_p > 0 && top_p <= 1)) return bad("top_p", top_p, "must be in (0, 1]");
  if (!(min_p >= 0 && min_p <= 1)) return bad("min_p", min_p, "must be in [0, 1]");
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0) {
    return bad("repetition_penalty", repetition_penalty, "must be finite and > 0 (1 is off)");
  }
  if (max_tokens <= 0) return bad("max_tokens", max_tokens, "must be > 0");
  if (min_tokens < 0 || min_tokens > max_tokens) {
    return bad("min_tokens", min_tokens, absl::StrCat("must be in [0, max_tokens = ", max_tokens, "]").c_str());
  }
  for (int64_t id : stop_token_ids) {
    if (id < 0 || id >= vocab_size) {
      return bad("stop_token_ids", id,
                 absl::StrCat("is not a token id of this model (vocab ", vocab_size, ")").c_str());
    }
  }
  if (logprobs < -1 || logprobs > kMaxLogprobs) {
    return bad("logprobs", logprobs, absl::StrCat("must be in [0, ", kMaxLogprobs, "] (or -1: none)").c_str());
  }
  for (const std::string& s : stop) {
    if (s.empty()) return absl::InvalidArgumentError("stop: an empty stop string would match everywhere");
  }
  return absl::OkStatus();
}

}  // namespace ssd
