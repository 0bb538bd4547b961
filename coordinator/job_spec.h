// Job specs: the YAML a user submits, parsed into a fully-defaulted
// ssd.v1.JobSpec and validated. The schema is documented field by field in
// the README ("Job spec"); deploy/examples/ has complete files.
//
// Every error names the field path and what is wrong, e.g.
//   sampling.top_p: must be in (0, 1], got 1.5
//   sampling.topp: unknown field (did you mean top_p?)
//   train.lr: must be a number, got "fast" (line 12, column 7)
// Unknown fields are errors, so a typo never silently falls back to a
// default.
#ifndef SSD_COORDINATOR_JOB_SPEC_H_
#define SSD_COORDINATOR_JOB_SPEC_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ssd/v1/job.pb.h"

namespace ssd {

// The largest job-spec YAML accepted (the paper's spec is about 3 KB).
inline constexpr size_t kMaxJobSpecBytes = 256 << 10;

struct JobSpecParseOptions {
  // Relative paths (model, problems, prompt_template, output_dir,
  // eval.benchmark) are resolved against this folder; "" leaves them as is.
  std::string base_dir;
  // `problems` may be omitted (ssd import supplies the round-1 samples).
  bool problems_optional = false;
};

// Parses and validates. Never throws.
absl::StatusOr<v1::JobSpec> ParseJobSpecYaml(absl::string_view yaml, const JobSpecParseOptions& options = {});

// The range and consistency checks alone, for specs built in code.
absl::Status ValidateJobSpec(const v1::JobSpec& spec, bool problems_optional = false);

// A spec built in code and sent whole (SubmitJobRequest.job_spec): the
// checks of ValidateJobSpec, and every path absolute, since there is no
// folder to resolve against.
absl::Status ValidateBuiltJobSpec(const v1::JobSpec& spec);

// A spec with every default filled in and no paths.
v1::JobSpec DefaultJobSpec();

// The one truncation that EvalSpec.top_k / top_p / min_p give.
v1::Truncation SingleTruncation(const v1::EvalSpec& eval);

// The eval sweep's truncations: EvalSpec.truncations, or for a spec stored
// before they existed, SingleTruncation.
std::vector<v1::Truncation> EvalTruncations(const v1::EvalSpec& eval);

}  // namespace ssd

#endif  // SSD_COORDINATOR_JOB_SPEC_H_
