#include "trainer_worker/rank_share.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/util/file_util.h"

namespace ssd {
namespace {

constexpr absl::string_view kHeader = "# ssd rank sizes v1";

}  // namespace

absl::Status WriteRankSizes(const std::string& path, const std::vector<SharedExample>& examples) {
  std::string text = absl::StrCat(kHeader, "\n");
  for (const SharedExample& x : examples) {
    absl::StrAppend(&text, x.size.tokens, " ", x.size.loss_tokens, " ", x.held ? 1 : 0, "\n");
  }
  return WriteFileAtomically(path, text);
}

absl::StatusOr<std::vector<SharedExample>> ReadRankSizes(const std::string& path) {
  auto text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  std::vector<SharedExample> out;
  int64_t line_no = 0;
  bool header = false;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    const std::string where = absl::StrCat(path, ":", line_no, ": ");
    if (!header) {
      if (line != kHeader) return absl::InvalidArgumentError(absl::StrCat(where, "expected \"", kHeader, "\""));
      header = true;
      continue;
    }
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    SharedExample x;
    int held = 0;
    if (f.size() != 3 || !absl::SimpleAtoi(f[0], &x.size.tokens) || !absl::SimpleAtoi(f[1], &x.size.loss_tokens) ||
        !absl::SimpleAtoi(f[2], &held) || (held != 0 && held != 1)) {
      return absl::InvalidArgumentError(absl::StrCat(where, "expected \"<tokens> <loss_tokens> <0|1>\""));
    }
    if (x.size.tokens < 1 || x.size.loss_tokens < 0 || x.size.loss_tokens >= x.size.tokens) {
      return absl::InvalidArgumentError(absl::StrCat(where, x.size.tokens, " tokens with ", x.size.loss_tokens,
                                                     " loss tokens: need tokens >= 1 and loss_tokens < tokens"));
    }
    x.held = held == 1;
    out.push_back(x);
  }
  if (!header) return absl::InvalidArgumentError(absl::StrCat(path, ": empty; expected \"", kHeader, "\""));
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": lists no examples"));
  return out;
}

std::vector<ExampleSize> SizesOf(const std::vector<SharedExample>& examples) {
  std::vector<ExampleSize> out;
  out.reserve(examples.size());
  for (const SharedExample& x : examples) out.push_back(x.size);
  return out;
}

absl::StatusOr<SftDataset> SpreadRankShare(SftDataset held, const std::vector<SharedExample>& examples,
                                           const std::string& sizes_path) {
  int64_t want = 0;
  for (const SharedExample& x : examples) want += x.held ? 1 : 0;
  if (want != static_cast<int64_t>(held.examples.size())) {
    return absl::FailedPreconditionError(absl::StrCat(sizes_path, " marks ", want,
                                                      " examples as held, but the data file has ", held.examples.size(),
                                                      " trainable ones"));
  }
  SftDataset out;
  out.stats = held.stats;
  out.examples.resize(examples.size());
  out.sizes = SizesOf(examples);
  size_t next = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    if (!examples[i].held) continue;
    TokenizedExample& ex = held.examples[next++];
    const ExampleSize got = SizeOf(ex);
    if (got.tokens != examples[i].size.tokens || got.loss_tokens != examples[i].size.loss_tokens) {
      return absl::DataLossError(absl::StrCat(
          "example ", i, " (data line ", ex.line, "): ", sizes_path, " says ", examples[i].size.tokens, " tokens and ",
          examples[i].size.loss_tokens, " loss tokens, this tokenizer and chat template give ", got.tokens, " and ",
          got.loss_tokens, " (the sizes were counted with another tokenizer, template or max_seq_len)"));
    }
    out.examples[i] = std::move(ex);
  }
  // Every rank fingerprints the same sizes, so a resumed group agrees.
  out.fingerprint = FingerprintSizes(out.sizes);
  return out;
}

}  // namespace ssd
