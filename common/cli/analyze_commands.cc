#include "common/cli/analyze_commands.h"

#include <ATen/Parallel.h>
#include <glog/logging.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/analysis/mechanism.h"
#include "common/analysis/mechanism_report.h"
#include "common/cli/cli_util.h"
#include "common/cli/sampling_flags.h"
#include "common/eval/benchmark.h"
#include "common/model/checkpoint_files.h"
#include "common/model/device.h"
#include "common/sampling/generation_model.h"
#include "common/sampling/sampling_presets.h"
#include "common/tokenizer/ssd_prompts.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

struct AnalyzeFlags {
  std::string base, tuned, tokenizer, benchmark, out, prompt_templates, device = "cpu";
  SamplingFlags sampling;
  MechanismOptions mechanism;
  EngineOptions engine;
  int threads = 0;
  bool json = false;
};

// analysis.html -> analysis.json and analysis.positions.jsonl beside it.
std::string Sibling(const std::string& html, const std::string& suffix) {
  std::string stem = html;
  if (absl::EndsWithIgnoreCase(stem, ".html")) stem.resize(stem.size() - 5);
  return stem + suffix;
}

absl::Status RunAnalyze(const AnalyzeFlags& f) {
  at::set_num_threads(CpuThreads(f.threads));
  MechanismOptions mo = f.mechanism;
  ASSIGN_OR_RETURN(mo.params, ResolveSamplingFlags(f.sampling));
  if (!absl::EndsWithIgnoreCase(f.out, ".html")) {
    return absl::InvalidArgumentError(absl::StrCat("--out: ", f.out, " should name an .html file"));
  }
  // Fail on an unwritable output before minutes of sampling, not after.
  if (const std::string parent = std::filesystem::path(f.out).parent_path().string(); !parent.empty()) {
    absl::Status made = MakeDirs(parent);
    if (!made.ok()) return absl::Status(made.code(), absl::StrCat("--out: ", made.message()));
  }
  const std::string probe = f.out + ".probe";
  RETURN_IF_ERROR(WriteFileAtomically(probe, ""));
  std::remove(probe.c_str());
  ASSIGN_OR_RETURN(Benchmark bench, LoadBenchmark(f.benchmark));
  for (const std::string& e : bench.errors) LOG(WARNING) << "skipped " << e;
  if (bench.problems.empty()) return absl::InvalidArgumentError(f.benchmark + ": no problems to analyse");
  ASSIGN_OR_RETURN(DecoderOptions dopts, ResolveDevice(f.device));
  ASSIGN_OR_RETURN(GenerationModel gm, LoadGenerationModel(f.base, dopts, f.tokenizer));
  const std::string tuned_dir = ResolveModelDir(f.tuned);
  absl::StatusOr<std::unique_ptr<Decoder>> tuned = Decoder::Load(tuned_dir, gm.model->options());
  if (!tuned.ok()) return absl::Status(tuned.status().code(), absl::StrCat("--tuned: ", tuned.status().message()));
  MaxTokensCap cap(gm.model->config().max_position_embeddings, gm.dir);
  mo.params.max_tokens = cap.Apply(mo.params.max_tokens, "--max-tokens");
  RETURN_IF_ERROR(mo.Validate(gm.model->config().vocab_size));
  ASSIGN_OR_RETURN(PromptTemplates templates, LoadPromptTemplatesOrDefault(f.prompt_templates));
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, CreateEngine(gm, f.engine));
  ASSIGN_OR_RETURN(MechanismReport report,
                   AnalyzeMechanism(*engine, *gm.model, **tuned, *gm.tokenizer, gm.chat.get(), templates, bench, mo,
                                    [](const std::string& line) { LOG(INFO) << line; }));
  report.base_dir = gm.dir;
  report.tuned_dir = tuned_dir;
  report.benchmark_path = f.benchmark;
  const Tokenizer& tok = *gm.tokenizer;
  auto token_text = [&tok](int64_t id) {
    absl::StatusOr<std::string> s = tok.Decode({static_cast<int32_t>(id)});
    return s.ok() ? *s : absl::StrCat("<", id, ">");
  };
  const nlohmann::json summary = MechanismReportToJson(report);
  const std::string summary_text = summary.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  RETURN_IF_ERROR(WriteFileAtomically(Sibling(f.out, ".json"), summary_text + "\n"));
  RETURN_IF_ERROR(WriteFileAtomically(Sibling(f.out, ".positions.jsonl"), MechanismPositionsJsonl(report)));
  RETURN_IF_ERROR(WriteFileAtomically(f.out, MechanismReportHtml(report, token_text)));
  if (f.json) {
    std::cout << summary_text << std::endl;
  } else {
    std::cout << FormatMechanismSummary(report) << "report: " << f.out << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterAnalyzeCommands(CLI::App& app, std::function<int()>* run) {
  auto f = std::make_shared<AnalyzeFlags>();
  CLI::App* a = app.add_subcommand(
      "analyze",
      "How SSD reshaped a model: sample solutions from the base, score every position with the base and the "
      "tuned model, and compare the tail mass at lock tokens and the spread at fork tokens");
  a->add_option("--base", f->base, "the base model's Hugging Face folder")->required();
  a->add_option("--tuned", f->tuned, "the tuned (SSD) model's folder; it must share the base's tokenizer")->required();
  a->add_option("--benchmark", f->benchmark, "LiveCodeBench or HumanEval JSONL whose prompts are sampled")->required();
  a->add_option("--out", f->out,
                "the HTML report to write; FILE.json (summary) and FILE.positions.jsonl (every position) go beside it")
      ->required();
  a->add_option("--tokenizer", f->tokenizer, "folder with tokenizer.json (default: --base)");
  AddSamplingFlags(a, &f->sampling, kSsdTrainPreset, /*default_n=*/1);
  a->add_option("--tail-top-k", f->mechanism.top_k, "the tail is the probability outside each model's top k")
      ->capture_default_str();
  a->add_option("--lock-share", f->mechanism.lock_share,
                "a position is a lock when the base's top token holds at least this share of its top-k mass")
      ->capture_default_str();
  a->add_option("--max-problems", f->mechanism.max_problems, "analyse the first N problems (0: all)")
      ->capture_default_str();
  a->add_option("--prompt-templates", f->prompt_templates, "JSON {stdin, starter_code} overriding the SSD prompts");
  a->add_option("--max-seqs", f->engine.max_seqs, "sequences decoded together")->capture_default_str();
  a->add_option("--kv-cache-mb", f->engine.kv_cache_mb, "KV cache budget")->capture_default_str();
  a->add_option("--threads", f->threads, "CPU threads (default: all cores)");
  a->add_option("--device", f->device, "cpu or cuda[:N]")->capture_default_str();
  a->add_flag("--json", f->json, "print the summary as JSON instead of the table");
  a->callback([f, run] { *run = [f] { return ReportStatus("analyze", RunAnalyze(*f)); }; });
}

}  // namespace ssd
