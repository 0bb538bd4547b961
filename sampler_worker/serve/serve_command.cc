#include "sampler_worker/serve/serve_command.h"

#include <ATen/Parallel.h>
#include <glog/logging.h>
#include <signal.h>

#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/cli/cli_util.h"
#include "common/cli/security_flags.h"
#include "common/util/file_util.h"
#include "common/util/signals.h"
#include "common/util/status_macros.h"
#include "sampler_worker/serve/openai_server.h"
#include "sampler_worker/serve/serving_engine.h"

namespace ssd {
namespace {

struct ServeFlags {
  ServingEngineOptions engine;
  OpenAiServerOptions server;
  SecurityFlags security;
  std::string port_file;
  int threads = 0;
  int64_t max_body_mb = 32;
};

absl::Status RunServe(ServeFlags f) {
  BlockTerminationSignals();
  // A client that goes away mid-stream must not kill the server (TLS
  // writes go through write(2), which raises SIGPIPE).
  signal(SIGPIPE, SIG_IGN);
  at::set_num_threads(CpuThreads(f.threads));
  ASSIGN_OR_RETURN(f.server.security, f.security.Resolve(/*server=*/true));
  if (f.server.served_model_name.empty()) f.server.served_model_name = f.engine.model_dir;
  f.server.max_body_bytes = f.max_body_mb << 20;
  RETURN_IF_ERROR(f.server.Validate());
  ASSIGN_OR_RETURN(std::unique_ptr<ServingEngine> engine, ServingEngine::Start(f.engine));
  ASSIGN_OR_RETURN(std::unique_ptr<OpenAiServer> server,
                   OpenAiServer::Start(f.server, engine.get(), f.engine.max_pending));
  if (!f.port_file.empty()) RETURN_IF_ERROR(WriteFileAtomically(f.port_file, absl::StrCat(server->port(), "\n")));
  std::cerr << "ssd serve: " << f.server.served_model_name << " on " << (f.server.security.insecure ? "http" : "https")
            << "://" << f.server.listen.substr(0, f.server.listen.rfind(':')) << ":" << server->port() << "/v1"
            << std::endl;
  WaitForTerminationSignal();
  LOG(INFO) << "shutting down";
  server->Shutdown();
  engine->Shutdown();
  return absl::OkStatus();
}

}  // namespace

void RegisterServeCommand(CLI::App& app, std::function<int()>* run) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* c = app.add_subcommand("serve", "Serve a model over the OpenAI HTTP API (/v1/completions, /v1/chat/completions)");
  c->add_option("--model", f->engine.model_dir, "Hugging Face model folder")->required();
  c->add_option("--tokenizer", f->engine.tokenizer_dir, "folder with tokenizer.json (default: the model's)");
  c->add_option("--listen", f->server.listen, "host:port (port 0: any free port; see --port-file)")
      ->capture_default_str();
  c->add_option("--port-file", f->port_file, "write the bound port here once serving");
  c->add_option("--served-model-name", f->server.served_model_name,
                "the name requests give as \"model\" (default: --model as given, as vLLM names it)");
  c->add_option("--threads", f->threads, "intra-op threads (0: the machine's cores)")->capture_default_str();
  c->add_option("--device", f->engine.device, "cpu, cuda or cuda:N")->capture_default_str();
  c->add_option("--dtype", f->engine.dtype, "auto (fp32 on cpu, bf16 on cuda), fp32 or bf16")->capture_default_str();
  c->add_option("--max-seqs", f->engine.max_seqs, "sequences decoded together")->capture_default_str();
  c->add_option("--kv-cache-mb", f->engine.kv_cache_mb, "KV-cache pool")->capture_default_str();
  c->add_option("--max-pending", f->engine.max_pending, "requests in the engine at once; more get HTTP 429")
      ->capture_default_str();
  c->add_option("--stream-interval-ms", f->server.stream_interval_ms,
                "a stream's events go out at most this often, each with every token since the last (0: per token)")
      ->capture_default_str();
  c->add_option("--max-body-mb", f->max_body_mb, "largest request body; larger gets HTTP 413")->capture_default_str();
  f->security.Add(c, /*server=*/true);
  c->callback([f, run] { *run = [f] { return ReportStatus("serve", RunServe(*f)); }; });
}

}  // namespace ssd
