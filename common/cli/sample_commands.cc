#include "common/cli/sample_commands.h"

#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/cli/cli_util.h"
#include "common/cli/sampling_flags.h"
#include "common/model/device.h"
#include "common/sampling/engine.h"
#include "common/sampling/generation_model.h"
#include "common/sampling/prompt_file.h"
#include "common/sampling/sample_file.h"
#include "common/sampling/sampling_presets.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

struct SampleFlags {
  std::string model, tokenizer, prompts, out, sft_out, prompt_templates, device = "cpu", dtype = "auto";
  SamplingFlags sampling;
  std::vector<std::string> stop_tokens;
  EngineOptions engine;
  int threads = 0;
  bool resume = false;
  bool ignore_eos = false;
  bool quiet = false;
};

// A one-line progress display on stderr: redrawn in place on a terminal,
// printed every few seconds otherwise.
class Progress {
 public:
  Progress(int64_t total, bool quiet) : total_(total), quiet_(quiet), tty_(::isatty(2) != 0) {}
  void Update(int64_t done, int64_t tokens, bool force = false) {
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (quiet_ || (!force && since < (tty_ ? 0.25 : 5.0))) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double tps = elapsed > 0 ? tokens / elapsed : 0;
    const double eta = done > 0 ? elapsed * (total_ - done) / done : 0;
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '-');
    std::fprintf(stderr, "%s[%s] %lld/%lld samples  %.0f tok/s  ETA %dm%02ds%s", tty_ ? "\r" : "", bar.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_), tps, static_cast<int>(eta) / 60,
                 static_cast<int>(eta) % 60, tty_ ? "" : "\n");
    std::fflush(stderr);
  }
  void End() {
    if (!quiet_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  const int64_t total_;
  const bool quiet_, tty_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

absl::Status RunSample(SampleFlags f) {
  at::set_num_threads(CpuThreads(f.threads));
  ASSIGN_OR_RETURN(SamplingParams params, ResolveSamplingFlags(f.sampling));
  ASSIGN_OR_RETURN(DecoderOptions dopts, ResolveDevice(f.device, f.dtype));
  ASSIGN_OR_RETURN(GenerationModel gm, LoadGenerationModel(f.model, dopts, f.tokenizer));
  const std::shared_ptr<const Decoder>& model = gm.model;
  const std::unique_ptr<Tokenizer>& tok = gm.tokenizer;
  const std::unique_ptr<ChatTemplate>& chat = gm.chat;
  ASSIGN_OR_RETURN(PromptTemplates templates, LoadPromptTemplatesOrDefault(f.prompt_templates));
  for (const std::string& name : f.stop_tokens) {
    std::optional<int32_t> id = tok->TokenToId(name);
    if (!id.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("--stop-token: \"", name, "\" is not a token of ", f.model));
    }
    params.stop_token_ids.push_back(*id);
  }
  RETURN_IF_ERROR(params.Validate(model->config().vocab_size));
  MaxTokensCap cap(model->config().max_position_embeddings, gm.dir);
  params.max_tokens = cap.Apply(params.max_tokens, "--max-tokens");
  params.min_tokens = std::min(params.min_tokens, params.max_tokens);
  if (!f.ignore_eos) f.engine.default_stop_ids = gm.default_stop_ids;
  ASSIGN_OR_RETURN(PromptFile prompts, LoadPromptFile(f.prompts, *tok, chat.get(), templates));
  for (const std::string& e : prompts.errors) std::cerr << "skipped " << e << "\n";

  std::set<std::pair<std::string, int64_t>> done;
  if (f.resume) {
    ASSIGN_OR_RETURN(done, ReadDoneSamples(f.out));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Create(model, tok.get(), f.engine));
  int64_t total = 0, rejected = 0;
  std::map<std::string, const PromptEntry*> by_id;
  for (const PromptEntry& p : prompts.prompts) {
    by_id[p.id] = &p;
    GenerationRequest r;
    r.id = p.id;
    r.prompt_ids = p.ids;
    r.params = params;
    if (p.max_tokens > 0) {
      r.params.max_tokens = cap.Apply(p.max_tokens, absl::StrCat(f.prompts, ":", p.line, " \"max_tokens\""));
      r.params.min_tokens = std::min(r.params.min_tokens, r.params.max_tokens);
    }
    for (int64_t s = 0; s < params.n; ++s) {
      if (!done.count({p.id, s})) r.sample_indices.push_back(s);
    }
    if (r.sample_indices.empty()) continue;
    const int64_t wanted = static_cast<int64_t>(r.sample_indices.size());
    if (absl::Status s = engine->Submit(std::move(r)); !s.ok()) {
      std::cerr << "skipped " << f.prompts << ":" << p.line << ": " << s.message() << "\n";
      ++rejected;
      continue;
    }
    total += wanted;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SampleWriter> writer, SampleWriter::Open(f.out, f.resume));
  std::unique_ptr<SampleWriter> sft;
  if (!f.sft_out.empty()) {
    ASSIGN_OR_RETURN(sft, SampleWriter::Open(f.sft_out, f.resume));
  }
  Progress progress(total, f.quiet);
  int64_t finished = 0, tokens = 0, length_stops = 0;
  absl::Status write_status;
  const auto t0 = std::chrono::steady_clock::now();
  engine->RunUntilDone([&](SampleResult r) {
    ++finished;
    tokens += r.num_tokens;
    length_stops += r.finish_reason == "length";
    const PromptEntry* p = by_id.at(r.prompt_id);
    if (write_status.ok()) write_status = writer->Write(SampleToJsonLine(r, p));
    if (write_status.ok() && sft != nullptr) write_status = sft->Write(SampleToSftLine(r, *p));
    progress.Update(finished, tokens);
  });
  progress.Update(finished, tokens, /*force=*/true);
  progress.End();
  RETURN_IF_ERROR(write_status);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const EngineStats st = engine->stats();
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  std::cerr << absl::StrFormat(
      "sampled %d samples (%d skipped as already done, %d ended by length), %d tokens in %.2f s (%.0f tok/s); "
      "KV peak %.1f MiB of %d MiB, %d preemptions; peak RSS %.0f MiB\n",
      finished, static_cast<int64_t>(done.size()), length_stops, st.generated_tokens, secs,
      secs > 0 ? st.generated_tokens / secs : 0.0, st.peak_kv_blocks * st.kv_block_bytes / 1048576.0,
      f.engine.kv_cache_mb, st.preemptions, ru.ru_maxrss / 1024.0);
  if (std::string w = LengthStopWarning(length_stops, finished, params.max_tokens); !w.empty()) {
    std::cerr << "warning: " << w << "\n";
  }
  if (!prompts.errors.empty() || rejected > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(prompts.errors.size() + rejected, " prompt line(s) were skipped; see the messages above"));
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterSampleCommands(CLI::App& app, std::function<int()>* run) {
  auto f = std::make_shared<SampleFlags>();
  CLI::App* c = app.add_subcommand(
      "sample", "Generate samples for a prompt file with the batched engine (default: --preset ssd-train)");
  c->add_option("--model", f->model, "Hugging Face model folder (config, safetensors, tokenizer)")->required();
  c->add_option("--tokenizer", f->tokenizer, "folder with tokenizer.json + tokenizer_config.json (default: --model)");
  c->add_option("--prompts", f->prompts, "JSONL prompts: {id, prompt} | {id, messages} | LiveCodeBench problems")
      ->required();
  c->add_option("--out", f->out, "samples JSONL to write (each line carries its prompt and messages)")->required();
  c->add_option("--sft-out", f->sft_out,
                "also write ml-ssd chat JSONL {\"messages\": [user..., assistant]} here, one line per sample");
  AddSamplingFlags(c, &f->sampling, kSsdTrainPreset, /*default_n=*/1);
  c->add_option("--stop-token", f->stop_tokens,
                "stop token by name, e.g. <|im_end|> (repeatable; default: the model's EOS and end-of-turn tokens)");
  c->add_option("--max-seqs", f->engine.max_seqs, "sequences decoded together")->capture_default_str();
  c->add_option("--kv-cache-mb", f->engine.kv_cache_mb, "KV cache budget")->capture_default_str();
  c->add_option("--block-size", f->engine.block_size, "KV block size in positions")->capture_default_str();
  c->add_option("--max-prefill-tokens", f->engine.max_prefill_tokens, "prompt tokens prefilled per step")
      ->capture_default_str();
  c->add_option("--prompt-templates", f->prompt_templates, "JSON {stdin, starter_code} overriding the SSD prompts");
  c->add_option("--threads", f->threads, "CPU threads (default: all cores)");
  c->add_option("--device", f->device, "cpu or cuda[:N]")->capture_default_str();
  c->add_option("--dtype", f->dtype,
                "weights: auto (fp32 on cpu, bf16 on cuda), fp32, or bf16 (on cpu: bf16 matrices widened in fp32 "
                "kernels, about half the bytes per token; samples differ from fp32)")
      ->capture_default_str();
  c->add_flag("--resume", f->resume, "keep --out and generate only the samples it lacks");
  c->add_flag("--ignore-eos", f->ignore_eos, "no default stop tokens (explicit --stop-token still applies)");
  c->add_flag("--quiet", f->quiet, "no progress bar");
  c->callback([f, run] { *run = [f] { return ReportStatus("sample", RunSample(*f)); }; });
}

}  // namespace ssd
