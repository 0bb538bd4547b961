#include "common/cli/filter_commands.h"

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/cli/cli_util.h"
#include "common/filter/filter_input.h"
#include "common/filter/sample_filter.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

struct FilterFlags {
  std::vector<std::string> in;
  std::string out;
  std::string by = "chars";
  std::string tokenizer;
  std::string on_bad_line = "fail";
  double percent = DefaultFilterSpec().drop_shortest_percent();
  bool drop_empty = DefaultFilterSpec().drop_empty();
  bool drop_single_line = DefaultFilterSpec().drop_single_line();
};

absl::Status RunFilter(const FilterFlags& f) {
  v1::FilterSpec spec = DefaultFilterSpec();
  spec.set_drop_empty(f.drop_empty);
  spec.set_drop_single_line(f.drop_single_line);
  if (!(f.percent >= 0 && f.percent < 100)) {
    return absl::InvalidArgumentError(absl::StrCat("--drop-shortest-percent: must be in [0, 100), got ", f.percent));
  }
  spec.set_drop_shortest_percent(f.percent);
  if (f.by == "chars") {
    spec.set_length_unit(v1::LENGTH_UNIT_CHARS);
  } else if (f.by == "tokens") {
    spec.set_length_unit(v1::LENGTH_UNIT_TOKENS);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--by: \"", f.by, "\" is not one of chars, tokens"));
  }
  if (f.on_bad_line != "fail" && f.on_bad_line != "skip") {
    return absl::InvalidArgumentError(absl::StrCat("--on-bad-line: \"", f.on_bad_line, "\" is not one of fail, skip"));
  }

  ASSIGN_OR_RETURN(FilterInput input, ReadFilterInput(f.in));
  for (const std::string& e : input.errors) std::cerr << "bad line " << e << "\n";
  if (!input.errors.empty() && f.on_bad_line == "fail") {
    return absl::InvalidArgumentError(absl::StrCat(input.errors.size(),
                                                   " bad line(s), listed above; nothing written (--on-bad-line skip "
                                                   "filters the rest)"));
  }
  if (input.samples.empty()) return absl::InvalidArgumentError("no samples in the --in file(s)");

  // Token lengths: a sample line's own count; chat lines need the tokenizer.
  std::unique_ptr<Tokenizer> tok;
  std::vector<FilterCandidate> candidates;
  candidates.reserve(input.samples.size());
  for (const FilterInputSample& s : input.samples) {
    int64_t tokens = s.num_tokens;
    if (spec.length_unit() == v1::LENGTH_UNIT_TOKENS && tokens < 0) {
      if (tok == nullptr) {
        if (f.tokenizer.empty()) {
          return absl::InvalidArgumentError(
              "--by tokens: chat lines carry no token counts; pass --tokenizer DIR (the model's folder) to count "
              "them");
        }
        ASSIGN_OR_RETURN(tok, Tokenizer::Load(f.tokenizer));
      }
      ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok->Encode(s.answer));
      tokens = static_cast<int64_t>(ids.size());
    }
    candidates.push_back({s.key, ComputeFeatures(s.answer, std::max<int64_t>(tokens, 0))});
  }
  const v1::FilterResult result = ComputeFilter(spec, candidates);

  std::string text;
  int64_t written = 0;
  for (size_t i = 0; i < input.samples.size(); ++i) {
    if (!Survives(spec, result, candidates[i].key, candidates[i].features)) continue;
    text += input.samples[i].sft_line;
    ++written;
  }
  RETURN_IF_ERROR(WriteFileAtomically(f.out, text));
  const char* unit = spec.length_unit() == v1::LENGTH_UNIT_TOKENS ? "tokens" : "chars";
  std::string cut = "no length cut";
  if (result.has_cut() && result.cut_length() != INT64_MAX) {
    cut = absl::StrFormat("the shortest %g%% of %d, lengths up to %d %s", spec.drop_shortest_percent(),
                          result.total() - result.dropped_empty() - result.dropped_single_line(), result.cut_length(),
                          unit);
  } else if (result.has_cut()) {
    cut = "every remaining sample (too few to keep any)";
  }
  std::cerr << absl::StrFormat(
      "filtered %d samples: dropped %d empty, %d single-line, %d short (%s); wrote %d to %s%s\n", result.total(),
      result.dropped_empty(), result.dropped_single_line(), result.dropped_short(), cut, written, f.out,
      input.errors.empty() ? "" : absl::StrCat("; ", input.errors.size(), " bad line(s) skipped"));
  return absl::OkStatus();
}

}  // namespace

void RegisterFilterCommands(CLI::App& app, std::function<int()>* run) {
  auto f = std::make_shared<FilterFlags>();
  CLI::App* c = app.add_subcommand(
      "filter",
      "SSD's filter: drop empty answers (and optionally single-line stubs), then the shortest p% over all the "
      "input as one global quantile; writes ml-ssd chat JSONL for `ssd train`");
  c->add_option("--in", f->in, "ssd sample output or chat JSONL (repeatable; all files form one set)")->required();
  c->add_option("--out", f->out, "chat JSONL of the survivors: {\"messages\": [..., assistant]}")->required();
  c->add_flag("--drop-empty,!--keep-empty", f->drop_empty, "drop answers that are empty after trimming (default on)");
  c->add_flag("--drop-single-line,!--keep-single-line", f->drop_single_line,
              "drop answers with at most one non-blank line, the paper's stub rule (default off)");
  c->add_option("--drop-shortest-percent", f->percent,
                "then drop this percent of the rest, shortest first, over the whole input (ml-ssd: 10)")
      ->capture_default_str();
  c->add_option("--by", f->by, "length unit: chars (Unicode code points) or tokens")->capture_default_str();
  c->add_option("--tokenizer", f->tokenizer, "with --by tokens: counts the tokens of chat lines");
  c->add_option("--on-bad-line", f->on_bad_line, "malformed lines: fail (write nothing) or skip")
      ->capture_default_str();
  c->callback([f, run] { *run = [f] { return ReportStatus("filter", RunFilter(*f)); }; });
}

}  // namespace ssd
