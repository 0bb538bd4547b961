#include "common/eval/model_eval.h"

#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/eval/prompting.h"
#include "common/eval/solutions.h"
#include "common/util/status_macros.h"

namespace ssd {

absl::StatusOr<std::vector<int64_t>> EncodeProblemPrompt(const Tokenizer& tokenizer, const ChatTemplate* chat,
                                                         const PromptTemplates& templates, const Problem& problem) {
  ASSIGN_OR_RETURN(std::string prompt, FormatProblemPrompt(templates, problem));
  if (chat != nullptr) {
    ChatOptions co;
    co.add_generation_prompt = true;
    ASSIGN_OR_RETURN(prompt,
                     chat->Render(nlohmann::ordered_json::array({{{"role", "user"}, {"content", prompt}}}), co));
  }
  EncodeOptions eo;
  eo.allow_special = true;  // the chat template's markers
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer.Encode(prompt, eo));
  return std::vector<int64_t>(ids.begin(), ids.end());
}

absl::StatusOr<GeneratedAnswers> GenerateAnswers(Engine& engine, const Tokenizer& tokenizer, const ChatTemplate* chat,
                                                 const PromptTemplates& templates, const Benchmark& benchmark,
                                                 const SamplingParams& params) {
  GeneratedAnswers out;
  std::map<std::string, size_t> first_slot;  // question_id -> index of its sample 0
  for (const Problem& p : benchmark.problems) {
    first_slot[p.question_id] = out.solutions.size();
    for (int64_t s = 0; s < params.n; ++s) {
      out.solutions.push_back({p.question_id, ""});
      out.outputs.emplace_back();
    }
    absl::StatusOr<std::vector<int64_t>> ids = EncodeProblemPrompt(tokenizer, chat, templates, p);
    absl::Status status = ids.status();
    if (status.ok()) {
      GenerationRequest r;
      r.id = p.question_id;
      r.prompt_ids = *std::move(ids);
      r.params = params;
      status = engine.Submit(std::move(r));
    }
    if (!status.ok()) out.errors.push_back(absl::StrCat(p.question_id, ": ", status.message()));
  }
  engine.RunUntilDone([&](SampleResult r) {
    const size_t slot = first_slot.at(r.prompt_id) + static_cast<size_t>(r.sample_index);
    out.solutions[slot].code = ExtractCode(r.text);
    out.outputs[slot] = std::move(r.text);
    out.generated_tokens += r.num_tokens;
    ++out.generated;
    out.length_stops += r.finish_reason == "length";
  });
  return out;
}

namespace {

// Each of the `once` entries per problem repeated `n` times, in place:
// [a, b] with n = 3 becomes [a, a, a, b, b, b].
template <typename T>
std::vector<T> Repeat(const std::vector<T>& once, int64_t n) {
  std::vector<T> out;
  out.reserve(once.size() * static_cast<size_t>(n));
  for (const T& x : once) {
    for (int64_t i = 0; i < n; ++i) out.push_back(x);
  }
  return out;
}

}  // namespace

absl::Status ModelEvalOptions::Validate(int64_t vocab_size) const {
  if (temperatures.empty()) return absl::InvalidArgumentError("temperatures: give at least one");
  for (double t : temperatures) {
    SamplingParams p = params;
    p.temperature = t;
    if (absl::Status s = p.Validate(vocab_size); !s.ok()) return s;
  }
  RETURN_IF_ERROR(grade.Validate());
  RETURN_IF_ERROR(bootstrap.Validate());
  if (temperatures.size() > 1) RETURN_IF_ERROR(split.Validate());
  return absl::OkStatus();
}

absl::StatusOr<ModelEvalReport> EvaluateModel(Engine& engine, const Tokenizer& tokenizer, const ChatTemplate* chat,
                                              const PromptTemplates& templates, const Benchmark& benchmark,
                                              Sandbox& sandbox, const ModelEvalOptions& options,
                                              const std::function<void(const std::string&)>& progress) {
  // Ranges only: the engine checks stop ids against the model's vocabulary.
  RETURN_IF_ERROR(options.Validate(std::numeric_limits<int64_t>::max()));
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  ModelEvalReport report;
  std::vector<TemperatureResults> candidates;
  for (double t : options.temperatures) {
    TemperatureEval te;
    te.temperature = t;
    SamplingParams p = options.params;
    p.temperature = t;
    const int64_t n = p.n;
    const bool once = p.greedy() && n > 1;
    if (once) {
      p.n = 1;
      say(
          absl::StrFormat("temperature 0 is greedy: generating and grading 1 answer per problem for %d problems, "
                          "each counted %d times",
                          benchmark.problems.size(), n));
    } else {
      say(absl::StrFormat("temperature %g: generating %d x %d answers", t, benchmark.problems.size(), n));
    }
    ASSIGN_OR_RETURN(te.answers, GenerateAnswers(engine, tokenizer, chat, templates, benchmark, p));
    say(absl::StrFormat("temperature %g: grading %d answers in the sandbox", t, te.answers.solutions.size()));
    te.results = GradeSolutions(benchmark, te.answers.solutions, sandbox, options.grade);
    te.graded = static_cast<int64_t>(te.answers.solutions.size());
    if (once) {
      te.answers.solutions = Repeat(te.answers.solutions, n);
      te.answers.outputs = Repeat(te.answers.outputs, n);
      te.results = Repeat(te.results, n);
    }
    te.outcomes = TallyOutcomes(benchmark, te.results);
    te.report = ComputePassAtK(te.outcomes, {1, 5, 10}, options.bootstrap);
    candidates.push_back({t, te.outcomes, /*setting=*/""});
    report.per_temperature.push_back(std::move(te));
  }
  if (candidates.size() > 1) {
    ASSIGN_OR_RETURN(TemperatureSelection best, SelectBestTemperature(candidates, options.split, options.bootstrap));
    report.best = best;
  }
  return report;
}

nlohmann::json ModelEvalReportToJson(const ModelEvalReport& report) {
  nlohmann::json j;
  nlohmann::json temps = nlohmann::json::array();
  for (const TemperatureEval& te : report.per_temperature) {
    nlohmann::json t;
    t["temperature"] = te.temperature;
    t["pass_at_k"] = PassAtKReportToJson(te.report);
    t["generated_tokens"] = te.answers.generated_tokens;
    t["generated_answers"] = te.answers.generated;
    t["graded_answers"] = te.graded;
    t["length_stops"] = te.answers.length_stops;
    t["errors"] = te.answers.errors;
    nlohmann::json problems = nlohmann::json::array();
    for (size_t i = 0; i < te.results.size(); ++i) {
      nlohmann::json r = SolutionResultToJson(te.results[i]);
      r["output"] = te.answers.outputs[i];
      problems.push_back(std::move(r));
    }
    t["samples"] = std::move(problems);
    temps.push_back(std::move(t));
  }
  j["temperatures"] = std::move(temps);
  if (report.best.has_value()) {
    const TemperatureSelection& b = *report.best;
    nlohmann::json tune = nlohmann::json::array();
    for (const auto& [t, p] : b.tune_pass_at_1) tune.push_back({{"temperature", t}, {"pass_at_1", p}});
    j["best_temperature"] = {{"temperature", b.temperature},
                             {"tune_problems", b.tune_problems},
                             {"held_out_problems", b.held_out_problems},
                             {"tune_pass_at_1", tune},
                             {"held_out_pass_at_1",
                              {{"value", b.held_out_pass_at_1.value},
                               {"ci_low", b.held_out_pass_at_1.ci_low},
                               {"ci_high", b.held_out_pass_at_1.ci_high}}}};
  }
  return j;
}

std::string FormatModelEvalReport(const ModelEvalReport& report) {
  std::string out;
  for (const TemperatureEval& te : report.per_temperature) {
    absl::StrAppendFormat(&out, "temperature %g (%d answers, %d tokens generated; %d ended by length)\n",
                          te.temperature, te.answers.generated, te.answers.generated_tokens, te.answers.length_stops);
    for (const std::string& e : te.answers.errors) absl::StrAppend(&out, "  not prompted: ", e, "\n");
    absl::StrAppend(&out, FormatPassAtKTable(te.report), "\n");
  }
  if (report.best.has_value()) {
    const TemperatureSelection& b = *report.best;
    absl::StrAppendFormat(&out,
                          "best temperature %g, chosen on %d tuning problems; pass@1 on the %d held-out "
                          "problems: %.3f [%.3f, %.3f]\n",
                          b.temperature, b.tune_problems, b.held_out_problems, b.held_out_pass_at_1.value,
                          b.held_out_pass_at_1.ci_low, b.held_out_pass_at_1.ci_high);
  }
  return out;
}

}  // namespace ssd
