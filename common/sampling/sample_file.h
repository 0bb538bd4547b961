// The samples JSONL that `ssd sample` writes, one object per line:
//   {"prompt_id", "sample_index", "text", "ids", "finish_reason",
//    "num_tokens", "cumulative_logprob", "prompt", "messages"}
// where "prompt" is the text the model was given (after the chat template)
// and "messages" the conversation it answered (see PromptEntry), so a line
// is all `ssd filter` needs to make an SFT example. `--sft-out` writes the
// ml-ssd chat form directly:
//   {"messages": [...the conversation..., {"role": "assistant", "content": text}]}
// Lines are appended and flushed one sample at a time, so a killed run
// loses at most the line it was writing; --resume reads what is there.
#ifndef SSD_COMMON_SAMPLING_SAMPLE_FILE_H_
#define SSD_COMMON_SAMPLING_SAMPLE_FILE_H_

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sampling/engine.h"
#include "common/sampling/prompt_file.h"

namespace ssd {

// `prompt` may be null (no "prompt" and "messages" fields then).
std::string SampleToJsonLine(const SampleResult& r, const PromptEntry* prompt = nullptr);
std::string SampleToSftLine(const SampleResult& r, const PromptEntry& prompt);

// The (prompt_id, sample_index) pairs already in `path` (none if it does not
// exist). A torn last line (no newline, from a killed run) is cut off the
// file; a malformed complete line is an error naming its line number.
absl::StatusOr<std::set<std::pair<std::string, int64_t>>> ReadDoneSamples(const std::string& path);

// Appends lines to a JSONL file (samples or SFT lines).
class SampleWriter {
 public:
  static absl::StatusOr<std::unique_ptr<SampleWriter>> Open(const std::string& path, bool append);
  ~SampleWriter();
  // Writes and flushes one line (which ends with '\n').
  absl::Status Write(absl::string_view line);

 private:
  SampleWriter(std::FILE* f, std::string path) : f_(f), path_(std::move(path)) {}
  std::FILE* f_;
  std::string path_;
};

}  // namespace ssd

#endif  // SSD_COMMON_SAMPLING_SAMPLE_FILE_H_
