#include "common/cli/eval_commands.h"

#include <ATen/Parallel.h>
#include <glog/logging.h>

#include <iostream>
#include <limits>
#include <memory>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/cli/cli_util.h"
#include "common/cli/sampling_flags.h"
#include "common/eval/benchmark.h"
#include "common/eval/grader.h"
#include "common/eval/metrics.h"
#include "common/eval/model_eval.h"
#include "common/eval/reference_sft.h"
#include "common/eval/sandbox.h"
#include "common/eval/solutions.h"
#include "common/model/device.h"
#include "common/sampling/generation_model.h"
#include "common/sampling/sampling_presets.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

struct EvalCodeFlags {
  std::string benchmark;
  std::string solutions;
  bool json = false;
  std::string results;  // also write the JSON here
  bool all_tests = false;
  bool unsafe_no_sandbox = false;
  bool lcb_v6 = false;
  std::string start_date, end_date;
  std::string bwrap = BwrapSandboxOptions{}.bwrap_path;
  int parallel = 0;  // 0: GradingParallelism's default
  GradeOptions grade;
  int64_t memory_mb = GradeOptions{}.address_space_bytes >> 20;
};

struct EvalModelFlags {
  EvalCodeFlags grading;  // benchmark, sandbox and grading flags shared with eval-code
  std::string model, tokenizer, device = "cpu", dtype = "auto", prompt_templates;
  SamplingFlags sampling;
  std::vector<double> temperatures;
  double held_out_fraction = HeldOutSplit{}.held_out_fraction;
  EngineOptions engine;
  int threads = 0;
};

struct SftReferencesFlags {
  std::string benchmark, solutions, out, tokenizer, prompt_templates;
  double tail_noise = 0;
  uint64_t seed = 1;
};

absl::Status RunSftReferences(const SftReferencesFlags& f) {
  ASSIGN_OR_RETURN(Benchmark bench, LoadBenchmark(f.benchmark));
  ASSIGN_OR_RETURN(SolutionsFile sols, LoadSolutions(f.solutions));
  ReferenceSftOptions o;
  o.tail_noise = f.tail_noise;
  o.seed = f.seed;
  if (!f.prompt_templates.empty()) {
    ASSIGN_OR_RETURN(o.templates, LoadPromptTemplates(f.prompt_templates));
  }
  std::unique_ptr<Tokenizer> tokenizer;
  if (!f.tokenizer.empty()) {
    ASSIGN_OR_RETURN(tokenizer, Tokenizer::Load(f.tokenizer));
    o.tokenizer = tokenizer.get();
  }
  ASSIGN_OR_RETURN(ReferenceSft sft, MakeReferenceSft(bench, sols.solutions, o));
  std::vector<std::string> errors = bench.errors;
  errors.insert(errors.end(), sols.errors.begin(), sols.errors.end());
  errors.insert(errors.end(), sft.errors.begin(), sft.errors.end());
  for (const std::string& e : errors) LOG(WARNING) << "skipped " << e;
  if (sft.lines.empty()) return absl::InvalidArgumentError(absl::StrCat(f.solutions, ": no usable solution"));
  std::string text;
  for (const std::string& line : sft.lines) absl::StrAppend(&text, line, "\n");
  RETURN_IF_ERROR(WriteFileAtomically(f.out, text));
  std::cerr << "sft-references: " << sft.lines.size() << " conversations to " << f.out << " (";
  if (f.tail_noise > 0) {
    std::cerr << sft.words_replaced << " of " << sft.words << " code words replaced by tail noise, ";
  }
  std::cerr << errors.size() << " skipped)" << std::endl;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Sandbox>> MakeSandbox(const EvalCodeFlags& f) {
  if (f.parallel < 0) return absl::InvalidArgumentError("--parallel: must be at least 1 (0: two per core)");
  const int parallel = GradingParallelism(f.parallel);
  if (f.unsafe_no_sandbox) {
    LOG(WARNING) << "--unsafe-no-sandbox: generated code runs with this user's rights, unisolated";
    return std::unique_ptr<Sandbox>(new UnsafeSandbox(parallel));
  }
  BwrapSandboxOptions o;
  o.bwrap_path = f.bwrap;
  o.max_parallel = parallel;
  ASSIGN_OR_RETURN(auto sb, BwrapSandbox::Create(o));
  return std::unique_ptr<Sandbox>(std::move(sb));
}

int Passed(const std::vector<SolutionResult>& results, int* graded) {
  int passed = 0;
  *graded = 0;
  for (const SolutionResult& r : results) {
    if (!r.error.empty()) continue;
    ++*graded;
    passed += r.passed;
  }
  return passed;
}

void PrintText(const std::vector<SolutionResult>& results, const PassAtKReport& report) {
  for (const SolutionResult& r : results) {
    if (!r.error.empty()) {
      std::cout << absl::StrFormat("%-24s %-14s %s\n", r.question_id, "error", r.error);
      continue;
    }
    int ok = 0;
    const TestResult* first_bad = nullptr;
    int first_bad_index = 0;
    for (size_t i = 0; i < r.tests.size(); ++i) {
      ok += r.tests[i].verdict == Verdict::kPass;
      if (first_bad == nullptr && r.tests[i].verdict != Verdict::kPass) {
        first_bad = &r.tests[i];
        first_bad_index = static_cast<int>(i);
      }
    }
    std::string line =
        absl::StrFormat("%-24s %-14s %d/%d tests", r.question_id, VerdictName(r.verdict), ok, r.tests.size());
    if (first_bad != nullptr && !first_bad->detail.empty()) {
      absl::StrAppend(&line, "  (test ", first_bad_index, ": ", first_bad->detail.substr(0, 160), ")");
    }
    std::cout << line << "\n";
  }
  int graded = 0;
  const int passed = Passed(results, &graded);
  std::cout << absl::StrFormat("\npass rate: %d/%d = %.1f%%\n\n", passed, graded,
                               graded ? 100.0 * passed / graded : 0.0)
            << FormatPassAtKTable(report);
}

BenchmarkOptions BenchmarkOptionsFrom(const EvalCodeFlags& f) {
  BenchmarkOptions bo;
  if (f.lcb_v6) bo.dates = LiveCodeBenchV6Window();
  if (!f.start_date.empty()) bo.dates.start_date = f.start_date;
  if (!f.end_date.empty()) bo.dates.end_date = f.end_date;
  return bo;
}

GradeOptions GradeOptionsFrom(const EvalCodeFlags& f) {
  GradeOptions go = f.grade;
  go.stop_at_first_failure = !f.all_tests;
  go.address_space_bytes = f.memory_mb << 20;
  return go;
}

absl::Status RunEvalCode(const EvalCodeFlags& f) {
  const GradeOptions go = GradeOptionsFrom(f);
  RETURN_IF_ERROR(go.Validate());
  ASSIGN_OR_RETURN(Benchmark bench, LoadBenchmark(f.benchmark, BenchmarkOptionsFrom(f)));
  ASSIGN_OR_RETURN(SolutionsFile sols, LoadSolutions(f.solutions));
  std::vector<std::string> errors = bench.errors;
  errors.insert(errors.end(), sols.errors.begin(), sols.errors.end());
  for (const std::string& e : errors) LOG(WARNING) << "skipped " << e;
  ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> sandbox, MakeSandbox(f));
  LOG(INFO) << "grading " << sols.solutions.size() << " solutions on " << bench.problems.size() << " problems, "
            << sandbox->max_parallel() << " at a time, sandbox " << sandbox->name();
  const std::vector<SolutionResult> results = GradeSolutions(bench, sols.solutions, *sandbox, go);
  const PassAtKReport report = ComputePassAtK(TallyOutcomes(bench, results));

  int graded = 0;
  const int passed = Passed(results, &graded);
  nlohmann::json j;
  j["pass_rate"] = graded ? static_cast<double>(passed) / graded : 0.0;
  j["passed"] = passed;
  j["graded"] = graded;
  nlohmann::json problems = nlohmann::json::array();
  for (const SolutionResult& r : results) problems.push_back(SolutionResultToJson(r));
  j["problems"] = std::move(problems);
  j["pass_at_k"] = PassAtKReportToJson(report);
  j["errors"] = errors;
  j["sandbox"] = std::string(sandbox->name());
  const std::string dumped = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (!f.results.empty()) RETURN_IF_ERROR(WriteFileAtomically(f.results, dumped + "\n"));
  if (f.json) {
    std::cout << dumped << std::endl;
  } else {
    PrintText(results, report);
  }
  return absl::OkStatus();
}

absl::Status RunEvalModel(const EvalModelFlags& f) {
  at::set_num_threads(CpuThreads(f.threads));
  ModelEvalOptions mo;
  ASSIGN_OR_RETURN(mo.params, ResolveSamplingFlags(f.sampling));
  mo.temperatures = f.temperatures.empty() ? std::vector<double>{mo.params.temperature} : f.temperatures;
  mo.split.held_out_fraction = f.held_out_fraction;
  mo.grade = GradeOptionsFrom(f.grading);
  RETURN_IF_ERROR(mo.Validate(std::numeric_limits<int64_t>::max()));
  ASSIGN_OR_RETURN(Benchmark bench, LoadBenchmark(f.grading.benchmark, BenchmarkOptionsFrom(f.grading)));
  for (const std::string& e : bench.errors) LOG(WARNING) << "skipped " << e;
  if (bench.problems.empty()) return absl::InvalidArgumentError(f.grading.benchmark + ": no problems to evaluate");
  ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> sandbox, MakeSandbox(f.grading));
  ASSIGN_OR_RETURN(DecoderOptions dopts, ResolveDevice(f.device, f.dtype));
  ASSIGN_OR_RETURN(GenerationModel gm, LoadGenerationModel(f.model, dopts, f.tokenizer));
  MaxTokensCap cap(gm.model->config().max_position_embeddings, gm.dir);
  mo.params.max_tokens = cap.Apply(mo.params.max_tokens, "--max-tokens");
  ASSIGN_OR_RETURN(PromptTemplates templates, LoadPromptTemplatesOrDefault(f.prompt_templates));
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, CreateEngine(gm, f.engine));
  ASSIGN_OR_RETURN(ModelEvalReport report,
                   EvaluateModel(*engine, *gm.tokenizer, gm.chat.get(), templates, bench, *sandbox, mo,
                                 [](const std::string& line) { LOG(INFO) << line; }));
  for (const TemperatureEval& te : report.per_temperature) {
    if (std::string w = LengthStopWarning(te.answers.length_stops, te.answers.generated, mo.params.max_tokens);
        !w.empty()) {
      LOG(WARNING) << "temperature " << te.temperature << ": " << w;
    }
  }
  nlohmann::json j = ModelEvalReportToJson(report);
  j["benchmark_errors"] = bench.errors;
  j["sandbox"] = std::string(sandbox->name());
  const std::string dumped = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (!f.grading.results.empty()) RETURN_IF_ERROR(WriteFileAtomically(f.grading.results, dumped + "\n"));
  if (f.grading.json) {
    std::cout << dumped << std::endl;
  } else {
    std::cout << FormatModelEvalReport(report);
  }
  return absl::OkStatus();
}

// Benchmark, sandbox and grading flags, shared by eval-code and eval.
void AddGradingFlags(CLI::App* e, EvalCodeFlags* f) {
  e->add_option("--benchmark", f->benchmark, "LiveCodeBench or HumanEval JSONL (.gz allowed)")->required();
  e->add_flag("--json", f->json, "print one JSON object instead of the table");
  e->add_option("--results", f->results, "also write the JSON object to this file");
  e->add_option("--timeout-s", f->grade.timeout_s, "per test, wall clock")->capture_default_str();
  e->add_option("--memory-mb", f->memory_mb, "address-space limit per process")->capture_default_str();
  e->add_option("--parallel", f->parallel,
                "programs run at once (default 0: two per core, since grading waits mostly on process start-up)")
      ->capture_default_str();
  e->add_flag("--all-tests", f->all_tests, "run every test instead of stopping at the first failure");
  e->add_flag("--fork-per-test", f->grade.fork_per_test,
              "run each test in a process of its own (slower; by default a program's tests share one, each from "
              "fresh globals)");
  e->add_option("--max-batch", f->grade.max_batch,
                "programs graded one after another in one sandbox run (bubblewrap; 1: a run per program)")
      ->capture_default_str();
  e->add_flag("--lcb-v6", f->lcb_v6, "keep problems dated 2025-02-01..2025-05-31 (LiveCodeBench v6)");
  e->add_option("--start-date", f->start_date, "keep problems dated on or after YYYY-MM-DD");
  e->add_option("--end-date", f->end_date, "keep problems dated on or before YYYY-MM-DD");
  e->add_option("--python", f->grade.python_path, "interpreter inside the sandbox")->capture_default_str();
  e->add_option("--bwrap", f->bwrap, "bubblewrap executable")->capture_default_str();
  e->add_flag("--unsafe-no-sandbox", f->unsafe_no_sandbox, "run the code WITHOUT isolation (only for code you trust)");
}

}  // namespace

void RegisterEvalCommands(CLI::App& app, std::function<int()>* run) {
  auto f = std::make_shared<EvalCodeFlags>();
  CLI::App* e = app.add_subcommand(
      "eval-code", "Grade given solutions against a benchmark in the sandbox (no model); prints verdicts and pass@k");
  AddGradingFlags(e, f.get());
  e->add_option("--solutions", f->solutions, "JSONL of {question_id, code} or {question_id, output}")->required();
  e->callback([f, run] { *run = [f] { return ReportStatus("eval-code", RunEvalCode(*f)); }; });

  auto r = std::make_shared<SftReferencesFlags>();
  CLI::App* sr = app.add_subcommand(
      "sft-references",
      "Write chat JSONL for training a base model on reference solutions: the SSD prompt of each problem, the "
      "code in a ```python fence as the answer");
  sr->add_option("--benchmark", r->benchmark, "LiveCodeBench or HumanEval JSONL (.gz allowed)")->required();
  sr->add_option("--solutions", r->solutions, "JSONL of {question_id, code}")->required();
  sr->add_option("--out", r->out, "chat JSONL to write")->required();
  sr->add_option("--tail-noise", r->tail_noise,
                 "share of code words replaced by a random vocabulary word (a spread distractor tail), in [0, 0.5]")
      ->capture_default_str();
  sr->add_option("--tokenizer", r->tokenizer, "model folder or tokenizer.json the noise words come from");
  sr->add_option("--seed", r->seed, "seeds the noise")->capture_default_str();
  sr->add_option("--prompt-templates", r->prompt_templates, "JSON {stdin, starter_code} overriding the SSD prompts");
  sr->callback([r, run] { *run = [r] { return ReportStatus("sft-references", RunSftReferences(*r)); }; });

  auto m = std::make_shared<EvalModelFlags>();
  CLI::App* ev = app.add_subcommand(
      "eval",
      "Generate answers with a model, grade them in the sandbox, print pass@k per temperature "
      "(default: --preset ssd-eval; temperature 0 generates and grades one answer per problem and counts it n "
      "times)");
  AddGradingFlags(ev, &m->grading);
  ev->add_option("--model", m->model, "Hugging Face model folder")->required();
  ev->add_option("--tokenizer", m->tokenizer, "folder with tokenizer.json + tokenizer_config.json (default: --model)");
  AddSamplingFlags(ev, &m->sampling, kSsdEvalPreset, /*default_n=*/10);
  ev->add_option("--temperatures", m->temperatures,
                 "sweep these temperatures (comma-separated) and choose the best on a held-out split")
      ->delimiter(',');
  ev->add_option("--held-out-fraction", m->held_out_fraction, "problems kept out of the temperature choice")
      ->capture_default_str();
  ev->add_option("--prompt-templates", m->prompt_templates, "JSON {stdin, starter_code} overriding the SSD prompts");
  ev->add_option("--max-seqs", m->engine.max_seqs, "sequences decoded together")->capture_default_str();
  ev->add_option("--kv-cache-mb", m->engine.kv_cache_mb, "KV cache budget")->capture_default_str();
  ev->add_option("--threads", m->threads, "CPU threads (default: all cores)");
  ev->add_option("--device", m->device, "cpu or cuda[:N]")->capture_default_str();
  ev->add_option("--dtype", m->dtype,
                 "weights: auto (fp32 on cpu, bf16 on cuda), fp32, or bf16 (on cpu: bf16 matrices widened in fp32 "
                 "kernels, about half the bytes per token; samples differ from fp32)")
      ->capture_default_str();
  ev->callback([m, run] { *run = [m] { return ReportStatus("eval", RunEvalModel(*m)); }; });
}

}  // namespace ssd
