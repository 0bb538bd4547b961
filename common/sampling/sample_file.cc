#include "common/sampling/sample_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {

namespace {

// Model text may hold invalid UTF-8 only through U+FFFD repair, which is
// valid; replace anything else rather than throw.
std::string DumpLine(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

nlohmann::ordered_json Conversation(const PromptEntry& p) {
  nlohmann::ordered_json m = nlohmann::ordered_json::parse(p.messages_json, nullptr, false);
  return m.is_array() ? m : nlohmann::ordered_json::array();
}

}  // namespace

std::string SampleToSftLine(const SampleResult& r, const PromptEntry& prompt) {
  nlohmann::ordered_json messages = Conversation(prompt);
  messages.push_back({{"role", "assistant"}, {"content", r.text}});
  nlohmann::ordered_json j;
  j["messages"] = std::move(messages);
  return DumpLine(j);
}

std::string SampleToJsonLine(const SampleResult& r, const PromptEntry* prompt) {
  nlohmann::ordered_json j;
  j["prompt_id"] = r.prompt_id;
  j["sample_index"] = r.sample_index;
  j["text"] = r.text;
  j["ids"] = r.ids;
  j["finish_reason"] = r.finish_reason;
  j["num_tokens"] = r.num_tokens;
  j["cumulative_logprob"] = r.cumulative_logprob;
  if (prompt != nullptr) {
    j["prompt"] = prompt->text;
    j["messages"] = Conversation(*prompt);
  }
  return DumpLine(j);
}

absl::StatusOr<std::set<std::pair<std::string, int64_t>>> ReadDoneSamples(const std::string& path) {
  std::set<std::pair<std::string, int64_t>> done;
  if (!PathExists(path)) return done;
  ASSIGN_OR_RETURN(std::string data, ReadFileToString(path));
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < data.size()) {
    const size_t nl = data.find('\n', pos);
    ++line_no;
    if (nl == std::string::npos) {
      // Torn write from a killed run: drop the partial line.
      if (::truncate(path.c_str(), static_cast<off_t>(pos)) != 0) {
        return absl::InternalError(absl::StrCat(path, ": cannot cut the torn last line: ", std::strerror(errno)));
      }
      break;
    }
    const std::string line = data.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("prompt_id") || !j["prompt_id"].is_string() ||
        !j.contains("sample_index") || !j["sample_index"].is_number_integer()) {
      return absl::DataLossError(absl::StrCat(path, ":", line_no,
                                              ": not a sample line (prompt_id, sample_index); "
                                              "fix or move the file before --resume"));
    }
    done.insert({j["prompt_id"].get<std::string>(), j["sample_index"].get<int64_t>()});
  }
  return done;
}

absl::StatusOr<std::unique_ptr<SampleWriter>> SampleWriter::Open(const std::string& path, bool append) {
  std::FILE* f = std::fopen(path.c_str(), append ? "ab" : "wb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open for writing: ", std::strerror(errno)));
  return std::unique_ptr<SampleWriter>(new SampleWriter(f, path));
}

SampleWriter::~SampleWriter() { std::fclose(f_); }

absl::Status SampleWriter::Write(absl::string_view line) {
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0) {
    return absl::DataLossError(absl::StrCat(path_, ": write failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace ssd
