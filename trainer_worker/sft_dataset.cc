#include "trainer_worker/sft_dataset.h"

#include <glog/logging.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/chat/chat_record.h"
#include "common/util/hash.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

constexpr size_t kMaxLoggedBadLines = 20;

}  // namespace

absl::StatusOr<SftDataset> LoadSftDataset(const std::string& path, const ChatTemplate& chat, const Tokenizer& tokenizer,
                                          const SftDatasetOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  SftDataset ds;
  SftDatasetStats& st = ds.stats;
  JsonlOptions jo;
  jo.on_bad_line = options.bad_lines;
  absl::StatusOr<JsonlStats> read = ReadJsonlFile(path, jo, [&](const JsonlLine& line) -> absl::Status {
    ASSIGN_OR_RETURN(nlohmann::ordered_json messages, ParseChatRecord(line.text));
    RETURN_IF_ERROR(ValidateTrainable(messages));
    bool truncated = false;
    absl::StatusOr<TokenizedExample> ex = TokenizeConversation(messages, chat, tokenizer, options, &truncated);
    if (absl::IsNotFound(ex.status())) {
      ++st.dropped_truncated;
      return absl::OkStatus();
    }
    // A model/tokenizer mismatch (FAILED_PRECONDITION) stops the load
    // whatever the policy: no line of this file will do better.
    if (!ex.ok()) return ex.status();
    ex->line = line.number;
    st.truncated += truncated ? 1 : 0;
    st.tokens += static_cast<int64_t>(ex->ids.size());
    st.target_tokens += ex->num_targets();
    ds.examples.push_back(std::move(*ex));
    return absl::OkStatus();
  });
  if (!read.ok()) {
    if (absl::IsNotFound(read.status())) {
      return absl::NotFoundError(absl::StrCat(path, ": cannot open the training data"));
    }
    if (absl::IsInvalidArgument(read.status())) {
      return absl::InvalidArgumentError(
          absl::StrCat(read.status().message(), " (pass --on-bad-line skip to skip such lines)"));
    }
    return read.status();
  }
  st.lines = read->lines;
  st.bad_lines = read->bad_lines;
  for (size_t i = 0; i < read->errors.size() && i < kMaxLoggedBadLines; ++i) {
    LOG(WARNING) << "skipping " << read->errors[i];
  }
  st.examples = static_cast<int64_t>(ds.examples.size());
  if (st.bad_lines > 0) LOG(WARNING) << path << ": skipped " << st.bad_lines << " bad line(s)";
  if (st.dropped_truncated > 0) {
    LOG(WARNING) << path << ": dropped " << st.dropped_truncated << " conversation(s) whose assistant "
                 << "tokens all lie past max_seq_len=" << options.max_seq_len;
  }
  if (ds.examples.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no trainable examples (", st.lines, " non-blank lines, ",
                                                   st.bad_lines, " skipped as bad, ", st.dropped_truncated,
                                                   " dropped by truncation to max_seq_len=", options.max_seq_len, ")"));
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

// The fingerprints start from this value, not FNV's offset basis (it lacks
// the basis' last digit). Checkpoints store the fingerprint and resume
// compares it, so it stays as it was.
constexpr uint64_t kFingerprintBasis = 1469598103934665603ull;

}  // namespace

uint64_t FingerprintExamples(const std::vector<TokenizedExample>& examples) {
  uint64_t h = kFingerprintBasis;
  for (const TokenizedExample& ex : examples) {
    h = Fnv1a64Word(ex.ids.size(), h);
    for (size_t t = 0; t < ex.ids.size(); ++t) {
      h = Fnv1a64Word((static_cast<uint64_t>(ex.ids[t]) << 1) | ex.loss_mask[t], h);
    }
  }
  return h;
}

uint64_t FingerprintSizes(const std::vector<ExampleSize>& sizes) {
  uint64_t h = Fnv1a64Word(0x5349'5a45'5356'3101ull, kFingerprintBasis);  // a tag: sizes and examples hash apart
  for (const ExampleSize& s : sizes) {
    h = Fnv1a64Word(static_cast<uint64_t>(s.tokens), h);
    h = Fnv1a64Word(static_cast<uint64_t>(s.loss_tokens), h);
  }
  return h;
}

}  // namespace ssd
