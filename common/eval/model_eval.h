// Model-driven evaluation: generate answers to a benchmark's problems with
// the sampling engine, grade them in the sandbox, and report pass@k per
// decoding temperature; with several temperatures, choose the best one on a
// held-out split of the problems (SSD's separately tuned decode temperature).
//
// This is the glue between the torch-free grading library (ssd_eval) and the
// engine; it lives in its own library (ssd_model_eval) so the control plane
// can grade without linking libtorch.
#ifndef SSD_COMMON_EVAL_MODEL_EVAL_H_
#define SSD_COMMON_EVAL_MODEL_EVAL_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/eval/benchmark.h"
#include "common/eval/grader.h"
#include "common/eval/metrics.h"
#include "common/eval/sandbox.h"
#include "common/sampling/engine.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/ssd_prompts.h"
#include "common/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace ssd {

// Raw model outputs for every (problem, sample), in benchmark order then
// sample order, and the code extracted from each (LiveCodeBench's rule).
struct GeneratedAnswers {
  std::vector<Solution> solutions;
  std::vector<std::string> outputs;
  // Problems that could not be prompted (e.g. longer than the context);
  // their samples are recorded with no code, so they count as failures.
  std::vector<std::string> errors;
  int64_t generated_tokens = 0;
  int64_t generated = 0;     // answers the engine generated (n per problem, or 1 when greedy)
  int64_t length_stops = 0;  // of those, how many ended by length (cut off)
};

// The token ids a problem is prompted with: the SSD template, through the
// chat template when there is one (one user message, generation prompt
// added), encoded with the chat markers allowed.
absl::StatusOr<std::vector<int64_t>> EncodeProblemPrompt(const Tokenizer& tokenizer, const ChatTemplate* chat,
                                                         const PromptTemplates& templates, const Problem& problem);

// Prompts every problem with EncodeProblemPrompt, through the chat template
// when there is one (one user message, generation prompt added), and
// generates params.n samples each.
absl::StatusOr<GeneratedAnswers> GenerateAnswers(Engine& engine, const Tokenizer& tokenizer, const ChatTemplate* chat,
                                                 const PromptTemplates& templates, const Benchmark& benchmark,
                                                 const SamplingParams& params);

struct ModelEvalOptions {
  SamplingParams params;             // temperature is taken from `temperatures`
  std::vector<double> temperatures;  // at least one
  HeldOutSplit split;                // used when there are several temperatures
  GradeOptions grade;
  BootstrapOptions bootstrap;
  absl::Status Validate(int64_t vocab_size) const;
};

struct TemperatureEval {
  double temperature = 0;
  GeneratedAnswers answers;
  std::vector<SolutionResult> results;  // aligned with answers.solutions
  int64_t graded = 0;                   // solutions run in the sandbox
  std::vector<ProblemOutcome> outcomes;
  PassAtKReport report;
};

struct ModelEvalReport {
  std::vector<TemperatureEval> per_temperature;
  std::optional<TemperatureSelection> best;  // set for a sweep
};

// Runs the whole evaluation. `progress` (optional) hears one line per stage.
// At temperature 0 decoding is greedy, so the n samples of a problem would
// be identical: one answer per problem is generated and graded and counted
// n times (answers, outputs and results still hold n entries per problem),
// which gives the same pass@k for 1/n of the work.
absl::StatusOr<ModelEvalReport> EvaluateModel(Engine& engine, const Tokenizer& tokenizer, const ChatTemplate* chat,
                                              const PromptTemplates& templates, const Benchmark& benchmark,
                                              Sandbox& sandbox, const ModelEvalOptions& options,
                                              const std::function<void(const std::string&)>& progress = {});

nlohmann::json ModelEvalReportToJson(const ModelEvalReport& report);
std::string FormatModelEvalReport(const ModelEvalReport& report);

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_MODEL_EVAL_H_
