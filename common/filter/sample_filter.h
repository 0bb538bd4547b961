// SSD's filter of raw samples, applied to a whole set at once: the
// coordinator's FILTERING stage (a round of a job) and `ssd filter` (files)
// both run this code. Torch-free and RPC-free; it uses only the message
// types of ssd/v1.
//
// Rules, in order (FilterSpec):
//   1. drop_empty: the text is empty after trimming whitespace;
//   2. drop_single_line: the text has at most one non-blank line (the
//      paper's "single-line stub" rule);
//   3. drop_shortest_percent p: of what 1-2 kept (N samples), the
//      floor(N * p / 100) shortest by length_unit (characters = Unicode
//      code points, or generated tokens) are dropped. Ties are broken by the
//      sample key, so exactly that many go and the result does not depend on
//      the order samples arrived in (ml-ssd's code drops the shortest 10% by
//      characters).
// The cut of rule 3 is recorded as (cut_length, cut_key): a sample that
// passed 1-2 survives iff (length, key) >= cut. Survival is therefore a pure
// function of a sample and its round's FilterResult, which Scan and Export
// evaluate without any per-sample marks.
#ifndef SSD_COMMON_FILTER_SAMPLE_FILTER_H_
#define SSD_COMMON_FILTER_SAMPLE_FILTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "ssd/v1/job.pb.h"

namespace ssd {

// SSD's defaults, shared by the job spec (`filter.*`) and `ssd filter`:
// drop empty texts, keep single-line ones, drop the shortest 10% by
// characters (ml-ssd's code).
v1::FilterSpec DefaultFilterSpec();

// What the filter reads of one sample text.
struct SampleFeatures {
  int64_t chars = 0;   // Unicode code points
  int64_t tokens = 0;  // generated tokens, as the sampler reported them
  int64_t bytes = 0;
  bool empty = false;        // nothing but whitespace
  bool single_line = false;  // at most one non-blank line
};

SampleFeatures ComputeFeatures(absl::string_view text, int64_t num_tokens);

struct FilterCandidate {
  std::string key;  // unique per sample; breaks ties at the cut (the store key, store_schema.h)
  SampleFeatures features;
};

v1::FilterResult ComputeFilter(const v1::FilterSpec& spec, std::vector<FilterCandidate> samples);

// Whether one sample survives the round's filter.
bool Survives(const v1::FilterSpec& spec, const v1::FilterResult& result, absl::string_view key,
              const SampleFeatures& features);

}  // namespace ssd

#endif  // SSD_COMMON_FILTER_SAMPLE_FILTER_H_
