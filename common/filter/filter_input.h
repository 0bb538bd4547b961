// What `ssd filter` reads: answers to filter, each with the conversation it
// answers, from JSONL files in either of two shapes (a file may mix them):
//
//   ml-ssd chat JSONL, as `ssd sample --sft-out` and `ssd export` write:
//     {"messages": [{"role": "user", ...}, ..., {"role": "assistant", "content": ANSWER}]}
//   `ssd sample` output lines (sample_file.h):
//     {"prompt_id", "sample_index", "text": ANSWER, "num_tokens", "messages": [...], ...}
//
// Each answer gets a key that breaks ties at the length cut: a sample line's
// (prompt_id, sample_index), so the result does not depend on line order, or
// a chat line's position (file, line). Bad lines are reported as
// "FILE:LINE: what is wrong" and skipped; the others still load.
#ifndef SSD_COMMON_FILTER_FILTER_INPUT_H_
#define SSD_COMMON_FILTER_FILTER_INPUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ssd {

struct FilterInputSample {
  std::string key;
  std::string answer;       // the assistant's text, what the filter measures
  int64_t num_tokens = -1;  // generated tokens from a sample line; -1: unknown (chat lines)
  std::string sft_line;     // the ml-ssd chat line to write if it survives, '\n'-terminated
};

struct FilterInput {
  std::vector<FilterInputSample> samples;  // in file order, then line order
  std::vector<std::string> errors;         // "FILE:LINE: what"
};

// Reads every file in `paths`. Fails only when a file cannot be read.
absl::StatusOr<FilterInput> ReadFilterInput(const std::vector<std::string>& paths);

}  // namespace ssd

#endif  // SSD_COMMON_FILTER_FILTER_INPUT_H_
