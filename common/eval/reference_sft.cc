#include "common/eval/reference_sft.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/eval/prompting.h"
#include "common/util/splitmix64.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

bool IsWordChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// A counter-based draw: a word's fate depends only on (seed, line, word),
// not on how many draws came before it.
uint64_t Mix(uint64_t x) { return SplitMix64Next(&x); }

double Uniform(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// The vocabulary's whole-word tokens ("foo" or " foo"), without the space.
absl::StatusOr<std::vector<std::string>> VocabularyWords(const Tokenizer& tokenizer) {
  std::vector<std::string> words;
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (tokenizer.added().Find(id) != nullptr) continue;
    auto bytes = tokenizer.TokenBytes(id);
    if (!bytes.ok()) continue;
    absl::string_view w = *bytes;
    if (!w.empty() && w[0] == ' ') w.remove_prefix(1);
    if (w.empty()) continue;
    bool word = true;
    for (char c : w) word = word && IsWordChar(c);
    if (word) words.emplace_back(w);
  }
  if (words.empty()) {
    return absl::FailedPreconditionError("tail noise: the tokenizer has no whole-word token to draw from");
  }
  return words;
}

// `code` with each word replaced by a vocabulary word with probability
// options.tail_noise (never when `vocabulary` is empty); counts words into
// `out`.
std::string WithTailNoise(const std::string& code, const ReferenceSftOptions& options,
                          const std::vector<std::string>& vocabulary, uint64_t line, ReferenceSft* out) {
  std::string noisy;
  noisy.reserve(code.size());
  uint64_t word_index = 0;
  for (size_t i = 0; i < code.size();) {
    if (!IsWordChar(code[i])) {
      noisy.push_back(code[i++]);
      continue;
    }
    size_t end = i;
    while (end < code.size() && IsWordChar(code[end])) ++end;
    ++out->words;
    const uint64_t r = Mix(Mix(Mix(options.seed) ^ line) ^ word_index++);
    if (!vocabulary.empty() && Uniform(r) < options.tail_noise) {
      noisy += vocabulary[Mix(r) % vocabulary.size()];
      ++out->words_replaced;
    } else {
      noisy.append(code, i, end - i);
    }
    i = end;
  }
  return noisy;
}

}  // namespace

absl::Status ReferenceSftOptions::Validate() const {
  if (!(tail_noise >= 0 && tail_noise <= 0.5)) {
    return absl::InvalidArgumentError(absl::StrCat("tail_noise: must be in [0, 0.5], got ", tail_noise));
  }
  if (tail_noise > 0 && tokenizer == nullptr) {
    return absl::InvalidArgumentError("tail_noise: needs a tokenizer to draw replacement words from");
  }
  return absl::OkStatus();
}

absl::StatusOr<ReferenceSft> MakeReferenceSft(const Benchmark& benchmark, const std::vector<Solution>& solutions,
                                              const ReferenceSftOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  std::vector<std::string> vocabulary;
  if (options.tail_noise > 0) {
    ASSIGN_OR_RETURN(vocabulary, VocabularyWords(*options.tokenizer));
  }
  ReferenceSft out;
  for (size_t line = 0; line < solutions.size(); ++line) {
    const Solution& s = solutions[line];
    const Problem* p = benchmark.Find(s.question_id);
    if (p == nullptr) {
      out.errors.push_back(absl::StrCat(s.question_id, ": not in the benchmark"));
      continue;
    }
    ASSIGN_OR_RETURN(std::string prompt, FormatProblemPrompt(options.templates, *p));
    std::string code = WithTailNoise(s.code, options, vocabulary, line, &out);
    if (!code.empty() && code.back() != '\n') code.push_back('\n');
    nlohmann::ordered_json j;
    j["messages"] = nlohmann::ordered_json::array(
        {{{"role", "user"}, {"content", prompt}}, {{"role", "assistant"}, {"content", "```python\n" + code + "```"}}});
    out.lines.push_back(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return out;
}

}  // namespace ssd
