#include "trainer_worker/sft_dataset.h"

#include <glog/logging.h>

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/tokenizer/assistant_mask.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

constexpr int kMaxLoggedBadLines = 20;

absl::Status CheckMessages(const nlohmann::ordered_json& messages, const std::string& where) {
  if (!messages.is_array() || messages.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": \"messages\" must be a non-empty array"));
  }
  bool has_assistant = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": messages[", i, "] must be an object with a string \"role\""));
    }
    if (!m.contains("content") || !m["content"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": messages[", i, "] (role ", m["role"].get<std::string>(),
                       ") must have a string \"content\""));
    }
    if (m["role"] == "assistant") has_assistant = true;
  }
  if (!has_assistant) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": \"messages\" has no assistant turn, so there is nothing to train on"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SftDatasetOptions::Validate() const {
  if (max_seq_len < 2) {
    return absl::InvalidArgumentError(absl::StrCat("max_seq_len: must be >= 2, got ", max_seq_len));
  }
  if (vocab_limit < 0) return absl::InvalidArgumentError("vocab_limit: must be >= 0");
  return absl::OkStatus();
}

int64_t TokenizedExample::num_targets() const {
  int64_t n = 0;
  for (uint8_t m : loss_mask) n += m;
  return n;
}

ExampleSize SizeOf(const TokenizedExample& example) {
  // Positions 1.. only: nothing predicts token 0.
  ExampleSize size{static_cast<int64_t>(example.ids.size()), 0};
  for (size_t t = 1; t < example.loss_mask.size(); ++t) size.loss_tokens += example.loss_mask[t];
  return size;
}

absl::StatusOr<nlohmann::ordered_json> ParseSftLine(absl::string_view line, const std::string& where) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(where, ": not valid JSON"));
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": expected a JSON object"));
  nlohmann::ordered_json messages;
  if (j.contains("messages")) {
    messages = j["messages"];
  } else if (j.contains("prompt")) {
    const char* reply_key = j.contains("response") ? "response" : "completion";
    if (!j["prompt"].is_string() || !j.contains(reply_key) || !j[reply_key].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": a prompt/response pair needs string \"prompt\" and \"response\" fields"));
    }
    messages = nlohmann::ordered_json::array();
    messages.push_back({{"role", "user"}, {"content", j["prompt"]}});
    messages.push_back({{"role", "assistant"}, {"content", j[reply_key]}});
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected a \"messages\" list or \"prompt\"/\"response\" fields"));
  }
  RETURN_IF_ERROR(CheckMessages(messages, where));
  return messages;
}

absl::StatusOr<TokenizedExample> TokenizeConversation(const nlohmann::ordered_json& messages,
                                                      const ChatTemplate& chat, const Tokenizer& tokenizer,
                                                      const SftDatasetOptions& options, bool* truncated) {
  ASSIGN_OR_RETURN(MaskedConversation conv, RenderWithAssistantMask(chat, tokenizer, messages, options.chat));
  TokenizedExample ex;
  ex.ids = std::move(conv.ids);
  ex.loss_mask = std::move(conv.assistant_mask);
  if (!ex.loss_mask.empty()) ex.loss_mask[0] = 0;
  if (options.vocab_limit > 0) {
    for (size_t t = 0; t < ex.ids.size(); ++t) {
      if (ex.ids[t] < 0 || ex.ids[t] >= options.vocab_limit) {
        return absl::FailedPreconditionError(absl::StrCat(
            "token ", t, " has id ", ex.ids[t], " but the model's vocab_size is ", options.vocab_limit,
            "; the tokenizer does not belong to this model"));
      }
    }
  }
  if (ex.num_targets() == 0) {
    return absl::InvalidArgumentError("the assistant turns render to no tokens");
  }
  *truncated = false;
  if (static_cast<int64_t>(ex.ids.size()) > options.max_seq_len) {
    *truncated = true;
    ex.ids.resize(static_cast<size_t>(options.max_seq_len));
    ex.loss_mask.resize(static_cast<size_t>(options.max_seq_len));
    if (ex.num_targets() == 0) {
      return absl::NotFoundError("every assistant token lies past max_seq_len");
    }
  }
  return ex;
}

absl::StatusOr<SftDataset> LoadSftDataset(const std::string& path, const ChatTemplate& chat,
                                          const Tokenizer& tokenizer, const SftDatasetOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the training data"));
  SftDataset ds;
  SftDatasetStats& st = ds.stats;
  std::string line;
  int64_t line_no = 0;
  auto bad = [&](const absl::Status& s) -> absl::Status {
    if (options.bad_lines == BadLinePolicy::kFail) {
      return absl::Status(s.code(), absl::StrCat(s.message(),
                                                 " (pass --on-bad-line skip to skip such lines)"));
    }
    if (++st.bad_lines <= kMaxLoggedBadLines) LOG(WARNING) << "skipping " << s.message();
    return absl::OkStatus();
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    ++st.lines;
    const std::string where = absl::StrCat(path, ":", line_no);
    absl::StatusOr<nlohmann::ordered_json> messages = ParseSftLine(line, where);
    if (!messages.ok()) {
      RETURN_IF_ERROR(bad(messages.status()));
      continue;
    }
    bool truncated = false;
    absl::StatusOr<TokenizedExample> ex = TokenizeConversation(*messages, chat, tokenizer, options, &truncated);
    if (absl::IsNotFound(ex.status())) {
      ++st.dropped_truncated;
      continue;
    }
    if (absl::IsFailedPrecondition(ex.status())) {
      // Model/tokenizer mismatch or a template that cannot be masked: no line
      // of this file will do better, so it is fatal whatever the policy.
      return absl::FailedPreconditionError(absl::StrCat(where, ": ", ex.status().message()));
    }
    if (!ex.ok()) {
      RETURN_IF_ERROR(bad(absl::InvalidArgumentError(absl::StrCat(where, ": ", ex.status().message()))));
      continue;
    }
    ex->line = line_no;
    st.truncated += truncated ? 1 : 0;
    st.tokens += static_cast<int64_t>(ex->ids.size());
    st.target_tokens += ex->num_targets();
    ds.examples.push_back(std::move(*ex));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error after line ", line_no));
  st.examples = static_cast<int64_t>(ds.examples.size());
  if (st.bad_lines > 0) LOG(WARNING) << path << ": skipped " << st.bad_lines << " bad line(s)";
  if (st.dropped_truncated > 0) {
    LOG(WARNING) << path << ": dropped " << st.dropped_truncated << " conversation(s) whose assistant "
                 << "tokens all lie past max_seq_len=" << options.max_seq_len;
  }
  if (ds.examples.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": no trainable examples (", st.lines, " non-blank lines, ", st.bad_lines, " skipped as bad, ",
        st.dropped_truncated, " dropped by truncation to max_seq_len=", options.max_seq_len, ")"));
  }
  ds.fingerprint = FingerprintExamples(ds.examples);
  return ds;
}

SftDataset DatasetFromExamples(std::vector<TokenizedExample> examples) {
  SftDataset ds;
  ds.examples = std::move(examples);
  for (const TokenizedExample& ex : ds.examples) {
    ++ds.stats.lines;
    ds.stats.tokens += static_cast<int64_t>(ex.ids.size());
    ds.stats.target_tokens += ex.num_targets();
  }
  ds.stats.examples = static_cast<int64_t>(ds.examples.size());
  ds.fingerprint = FingerprintExamples(ds.examples);
  return ds;
}

namespace {

// FNV-1a over the bytes of 64-bit values.
class Fnv64 {
 public:
  void Mix(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h_ ^= (v >> (8 * i)) & 0xff;
      h_ *= 1099511628211ull;
    }
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 1469598103934665603ull;
};

}  // namespace

uint64_t FingerprintExamples(const std::vector<TokenizedExample>& examples) {
  Fnv64 h;
  for (const TokenizedExample& ex : examples) {
    h.Mix(ex.ids.size());
    for (size_t t = 0; t < ex.ids.size(); ++t) h.Mix((static_cast<uint64_t>(ex.ids[t]) << 1) | ex.loss_mask[t]);
  }
  return h.value();
}

uint64_t FingerprintSizes(const std::vector<ExampleSize>& sizes) {
  Fnv64 h;
  h.Mix(0x5349'5a45'5356'3101ull);  // a tag: sizes and examples hash apart
  for (const ExampleSize& s : sizes) {
    h.Mix(static_cast<uint64_t>(s.tokens));
    h.Mix(static_cast<uint64_t>(s.loss_tokens));
  }
  return h.value();
}

}  // namespace ssd
