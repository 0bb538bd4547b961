#include "common/filter/sample_filter.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace ssd {
namespace {

int64_t Length(const v1::FilterSpec& spec, const SampleFeatures& f) {
  return spec.length_unit() == v1::LENGTH_UNIT_TOKENS ? f.tokens : f.chars;
}

bool PassesRules(const v1::FilterSpec& spec, const SampleFeatures& f) {
  if (spec.drop_empty() && f.empty) return false;
  if (spec.drop_single_line() && f.single_line) return false;
  return true;
}

// At most kHistogramBuckets buckets of equal integer width over the kept
// lengths.
constexpr int64_t kHistogramBuckets = 40;

void FillHistogram(const std::vector<std::pair<int64_t, const std::string*>>& kept, v1::FilterResult* r) {
  if (kept.empty()) return;
  int64_t lo = kept.front().first, hi = lo;
  for (const auto& k : kept) {
    lo = std::min(lo, k.first);
    hi = std::max(hi, k.first);
  }
  const int64_t width = std::max<int64_t>(1, (hi - lo) / kHistogramBuckets + 1);
  std::vector<int64_t> counts(static_cast<size_t>((hi - lo) / width + 1), 0);
  for (const auto& k : kept) ++counts[static_cast<size_t>((k.first - lo) / width)];
  r->set_histogram_min(lo);
  r->set_histogram_width(width);
  for (int64_t c : counts) r->add_histogram_counts(c);
}

}  // namespace

v1::FilterSpec DefaultFilterSpec() {
  v1::FilterSpec f;
  f.set_drop_empty(true);
  f.set_drop_single_line(false);
  f.set_drop_shortest_percent(10);
  f.set_length_unit(v1::LENGTH_UNIT_CHARS);
  return f;
}

SampleFeatures ComputeFeatures(absl::string_view text, int64_t num_tokens) {
  SampleFeatures f;
  int64_t chars = 0;
  for (unsigned char c : text) chars += (c & 0xC0) != 0x80;  // count lead bytes
  f.chars = chars;
  f.tokens = num_tokens;
  f.bytes = static_cast<int64_t>(text.size());
  f.empty = absl::StripAsciiWhitespace(text).empty();
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StripAsciiWhitespace(line).empty() && ++lines > 1) break;
  }
  f.single_line = lines <= 1;
  return f;
}

v1::FilterResult ComputeFilter(const v1::FilterSpec& spec, std::vector<FilterCandidate> samples) {
  v1::FilterResult r;
  r.set_total(static_cast<int64_t>(samples.size()));
  r.set_length_unit(spec.length_unit());
  std::vector<std::pair<int64_t, const std::string*>> kept;
  for (const FilterCandidate& c : samples) {
    if (spec.drop_empty() && c.features.empty) {
      r.set_dropped_empty(r.dropped_empty() + 1);
    } else if (spec.drop_single_line() && c.features.single_line) {
      r.set_dropped_single_line(r.dropped_single_line() + 1);
    } else {
      kept.emplace_back(Length(spec, c.features), &c.key);
    }
  }
  FillHistogram(kept, &r);
  const int64_t drop = static_cast<int64_t>(static_cast<double>(kept.size()) * spec.drop_shortest_percent() / 100.0);
  if (drop > 0 && drop < static_cast<int64_t>(kept.size())) {
    // Only the element at the cut matters: nth_element, not a full sort.
    auto less = [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : *a.second < *b.second;
    };
    std::nth_element(kept.begin(), kept.begin() + drop, kept.end(), less);
    r.set_has_cut(true);
    r.set_cut_length(kept[static_cast<size_t>(drop)].first);
    r.set_cut_key(*kept[static_cast<size_t>(drop)].second);
    r.set_dropped_short(drop);
  } else if (drop > 0) {
    // Everything would go: keep the cut above every sample.
    r.set_has_cut(true);
    r.set_cut_length(INT64_MAX);
    r.set_dropped_short(static_cast<int64_t>(kept.size()));
  }
  r.set_survivors(static_cast<int64_t>(kept.size()) - r.dropped_short());
  return r;
}

bool Survives(const v1::FilterSpec& spec, const v1::FilterResult& result, absl::string_view key,
              const SampleFeatures& features) {
  if (!PassesRules(spec, features)) return false;
  if (!result.has_cut()) return true;
  const int64_t len = Length(spec, features);
  if (len != result.cut_length()) return len > result.cut_length();
  return key >= absl::string_view(result.cut_key());
}

}  // namespace ssd
