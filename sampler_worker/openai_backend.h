// OpenAiBackend: GenerationBackend over any OpenAI-compatible server (`ssd
// serve`, vLLM, SGLang). The worker still leases shards, streams samples and
// takes weight pushes; only the generation happens elsewhere.
//
// Requests: one /v1/completions call per (problem, sample index), n = 1,
// with the prompt as token ids rendered here from the model folder's chat
// template and tokenizer (problem_prompt.h), the model folder's stop ids as
// stop_token_ids, and as `seed` the sample's stream seed (philox.h
// SampleStreamSeed of the job seed, problem id and index). So a re-run
// shard asks for the same samples, and `ssd serve` answers bitwise what the
// native backend would have generated. (vLLM honours per-request seeds, but
// its batches are not batch-invariant: the same seed can give other text
// under another load.) Up to max_concurrency requests are in flight; each
// sample goes to the replay store as its response arrives.
//
// Failures: a refused connection, a reset, a timeout, a 5xx or a 429 is
// retried with backoff (0.25 s doubling to 5 s) for up to retry_window_s;
// then the shard fails with the last error and Health() reports the
// server down (the worker takes no lease) until a probe of /v1/models
// answers again. A 4xx is the request's fault and fails the shard at once.
//
// Weights versions, one of three ways:
//   managed (command set): the worker runs the server (managed_server.h) on
//     the version's folder and restarts it on the next one; the served name
//     is the folder (vLLM's and `ssd serve`'s default), so every response's
//     `model` names the version that made it.
//   reload_url set: the worker POSTs {"model_path": DIR} there (SGLang's
//     /update_weights_from_disk, which `ssd serve` also has), then checks
//     that /v1/models reports DIR as its root.
//   neither: the server serves what it was started with; version 0 only,
//     and a later version fails its shard saying what to configure.
// A response whose `model` names no version this worker loaded fails the
// shard: the version is always the one the server reported.
#ifndef SSD_SAMPLER_WORKER_OPENAI_BACKEND_H_
#define SSD_SAMPLER_WORKER_OPENAI_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "sampler_worker/generation_backend.h"

namespace ssd {

struct OpenAiBackendOptions {
  // --backend-url: the server's base URL, ".../v1". In managed mode it may
  // hold {port}; left empty there it is http://127.0.0.1:{port}/v1.
  std::string url;
  std::string model;    // --backend-model: the name to request (default: the served one)
  std::string token;    // the bearer token (--backend-token-file's content)
  std::string ca_file;  // --backend-tls-ca: the CA of an https server
  int max_concurrency = 32;
  double retry_window_s = 60;
  int request_timeout_s = 1800;
  // Managed mode.
  std::string command;  // --backend-command, with {model} and {port}
  int port = 0;         // --backend-port: {port}; 0 picks a free one at each start
  double start_timeout_s = 1200;
  std::string log_path;  // the managed server's output
  // Reload mode.
  std::string reload_url;  // --backend-reload-url

  absl::Status Validate() const;
};

std::unique_ptr<GenerationBackend> MakeOpenAiBackend(const OpenAiBackendOptions& options);

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_OPENAI_BACKEND_H_
