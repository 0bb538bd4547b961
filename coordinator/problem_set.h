// The problems of a job, read by the coordinator at submit time and worded
// once, so that samplers need no access to the file and every sampler sees
// the same prompt.
//
// Sampling problems (JobSpec.problems), JSONL, one per line, in any mix:
//   {"id": ..., "prompt": "raw text"}       raw prompt, no chat template
//   {"id": ..., "messages": [...]}           chat messages
//   {"question_id": ..., "question_content": ..., "starter_code": ...}
//                                            LiveCodeBench release format,
//                                            worded with the SSD templates as
//                                            one user message
// Ids are strings or integers and unique; any line may set "max_tokens".
//
// Eval problems (EvalSpec.benchmark): LiveCodeBench release or HumanEval
// JSONL (".gz" read directly), validated with the grader's own parser; the
// raw line travels to the samplers, who grade with it.
//
// A file with bad lines is refused as a whole, listing them as
// "FILE:LINE: what is wrong": a job must not silently lose problems.
#ifndef SSD_COORDINATOR_PROBLEM_SET_H_
#define SSD_COORDINATOR_PROBLEM_SET_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer/ssd_prompts.h"
#include "coordinator/coordinator_options.h"
#include "ssd/v1/job.pb.h"
#include "ssd/v1/worker_service.pb.h"

namespace ssd {

// A file with more than `max_problems` problems is INVALID_ARGUMENT naming
// the field, the file and the limit.
absl::StatusOr<std::vector<v1::Problem>> LoadTrainProblems(const std::string& path, const PromptTemplates& templates,
                                                           size_t max_problems = kMaxProblems);

// Problems outside eval.start_date..end_date are left out.
absl::StatusOr<std::vector<v1::Problem>> LoadEvalProblems(const v1::EvalSpec& eval, const PromptTemplates& templates,
                                                          size_t max_problems = kMaxProblems);

// The templates a spec asks for: the SSD ones, or its prompt_template file.
absl::StatusOr<PromptTemplates> TemplatesFor(const v1::JobSpec& spec);

}  // namespace ssd

#endif  // SSD_COORDINATOR_PROBLEM_SET_H_
