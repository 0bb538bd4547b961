// cluster_bench: the control plane's speed, each figure against a baseline
// measured in the same run.
//
//   1. Replay-store ingest over gRPC with durable acks: 4 concurrent Append
//      streams into a real `ssd coordinator` (TLS, token, group commit),
//      1 KiB and 64 KiB samples. Baselines: raw RocksDB writes of the same
//      keys and values in this process (unsynced; one sync per put; synced
//      batches of the size the store's commit log actually formed).
//   2. Lease traffic of 100 simulated workers (threads, one channel each):
//      AcquireWork (grant) + Heartbeat (renew) + ReportWork (done) cycles,
//      RPCs/s and p50/p99 latency. Baseline: grpc.health.v1 Check over the
//      same channels, the TLS + token + HTTP/2 floor.
//
//   cluster_bench [--smoke]
//
// It prints tables; it asserts nothing about time.
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/model/safetensors.h"
#include "common/rpc/channel_builder.h"
#include "common/rpc/security.h"
#include "common/rpc/server_builder.h"
#include "common/rpc/worker_credentials.h"
#include "common/storage/rocksdb_kv_store.h"
#include "common/util/ports.h"
#include "common/weights/weights_source.h"
#include "common/weights/weights_transport.h"
#include "coordinator/records.pb.h"
#include "coordinator/store_schema.h"
#include "sampler_worker/sampler_service.h"
#include "sampler_worker/weights_store.h"
#include "ssd/v1/replay_store.grpc.pb.h"
#include "ssd/v1/worker_service.grpc.pb.h"
#include "tests/cluster/cluster_harness.h"
#include "tests/testing/tiny_model.h"

namespace ssd {
namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::shared_ptr<grpc::Channel> Channel(const LocalCluster& c) {
  ChannelOptions o;
  o.target = c.address();
  o.security.ca_file = c.certs() + "/ca.pem";
  o.security.token = *ReadTokenFile(c.certs() + "/token");
  return *MakeChannel(o);
}

v1::WorkerCredentials RegisterSampler(v1::WorkerService::Stub* stub) {
  v1::RegisterWorkerRequest req;
  req.set_role(v1::WORKER_ROLE_SAMPLER);
  req.set_address("127.0.0.1:1");
  v1::RegisterWorkerResponse resp;
  auto ctx = CallContext(10000);
  grpc::Status s = stub->RegisterWorker(ctx.get(), req, &resp);
  if (!s.ok()) fprintf(stderr, "register: %s\n", s.error_message().c_str());
  return resp.credentials();
}

std::string Text(size_t bytes, int64_t i) {
  std::string t = absl::StrCat("def solve_", i, "():\n");
  while (t.size() < bytes) t += "    x = x * 31 + 7  # padding to the sample size\n";
  t.resize(bytes);
  return t;
}

// A counter scraped from /metrics.
double Metric(const LocalCluster& c, const std::string& name) {
  const std::string text = c.HttpGet("/metrics");
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  double v = 0;
  absl::SimpleAtod(text.substr(at + name.size() + 2, text.find('\n', at + 1) - at - name.size() - 2), &v);
  return v;
}

struct IngestResult {
  double grpc_per_s = 0;
  double unsynced_per_s = 0;
  double sync_each_per_s = 0;
  double synced_batch_per_s = 0;
  double group_samples = 0;
};

// A bench that cannot set itself up says why and exits non-zero, rather
// than printing an empty table.
[[noreturn]] void Fail(const std::string& why) {
  fprintf(stderr, "cluster_bench: %s\n", why.c_str());
  std::exit(1);
}

IngestResult Ingest(size_t sample_bytes, int64_t samples, int per_message, bool smoke) {
  IngestResult out;
  constexpr int kStreams = 4;
  LocalCluster cluster;
  if (!cluster.StartCoordinator({"--max-message-mb", "64"})) Fail("the coordinator did not start");
  const int64_t problems = samples;
  const std::string spec = cluster.WriteSpec(absl::StrCat("model: /m\nproblems: ", cluster.WriteProblems(problems),
                                                          "\nshard_size: ", problems / kStreams,
                                                          "\nsampling:\n  n: 1\n  max_tokens: 1000000\n"));
  auto client = cluster.Client();
  auto job = client->SubmitFile(spec);
  if (!job.ok()) Fail(absl::StrCat("submit: ", job.status().message()));
  // One worker, lease and channel per stream.
  struct Stream {
    std::shared_ptr<grpc::Channel> channel;
    v1::WorkerCredentials id;
    v1::ShardLease lease;
  };
  std::vector<Stream> streams(kStreams);
  for (Stream& s : streams) {
    s.channel = Channel(cluster);
    auto stub = v1::WorkerService::NewStub(s.channel);
    s.id = RegisterSampler(stub.get());
    v1::AcquireWorkRequest req;
    v1::AcquireWorkResponse resp;
    auto ctx = CallContext(10000);
    AttachWorkerCredentials(s.id, ctx.get());
    stub->AcquireWork(ctx.get(), req, &resp);
    s.lease = resp.shard();
  }
  const double groups0 = Metric(cluster, "ssd_store_commit_groups_total");
  const double t0 = Now();
  std::vector<std::thread> threads;
  std::atomic<int64_t> acked{0};
  for (Stream& s : streams) {
    threads.emplace_back([&] {
      auto store = v1::ReplayStore::NewStub(s.channel);
      grpc::ClientContext ctx;
      AttachWorkerCredentials(s.id, &ctx);
      v1::AppendResponse ack;
      auto w = store->Append(&ctx, &ack);
      v1::AppendRequest m;
      *m.mutable_lease() = s.lease.lease();
      for (const v1::ProblemTask& t : s.lease.tasks()) {
        v1::Sample* x = m.add_samples();
        x->set_problem_id(t.problem().id());
        x->set_sample_index(0);
        x->set_text(Text(sample_bytes, m.samples_size()));
        x->set_num_tokens(static_cast<int32_t>(sample_bytes / 4));
        x->set_finish_reason(v1::FINISH_REASON_STOP);
        if (m.samples_size() >= per_message) {
          w->Write(m);
          m.Clear();
        }
      }
      if (m.samples_size() > 0) w->Write(m);
      w->WritesDone();
      grpc::Status st = w->Finish();
      if (!st.ok()) fprintf(stderr, "append: %s\n", st.error_message().c_str());
      acked += ack.accepted();
    });
  }
  for (auto& t : threads) t.join();
  const double dt = Now() - t0;
  out.grpc_per_s = acked.load() / dt;
  const double groups = Metric(cluster, "ssd_store_commit_groups_total") - groups0;
  out.group_samples = groups > 0 ? acked.load() / groups : 1;
  cluster.KillCoordinator(SIGTERM);

  // Raw RocksDB with the same tables, keys and record encoding.
  const std::string raw_dir = cluster.dir() + "/raw";
  auto db = RocksDbKvStore::Open({raw_dir}, CoordinatorTables());
  if (!db.ok()) Fail(absl::StrCat("raw RocksDB: ", db.status().message()));
  auto put = [&](int64_t i, WriteBatch* b) {
    internal::SampleRecord rec;
    rec.mutable_sample()->set_problem_id(absl::StrCat("p", i));
    rec.mutable_sample()->set_text(Text(sample_bytes, i));
    rec.mutable_sample()->set_num_tokens(static_cast<int32_t>(sample_bytes / 4));
    rec.mutable_sample()->set_finish_reason(v1::FINISH_REASON_STOP);
    const std::string key = SampleKey("job-000001", 1, static_cast<uint32_t>(i), 0);
    b->Put(kSamples, key, rec.SerializeAsString());
    b->Put(kFeatures, key, "\x08\x01\x10\x01");
  };
  const int64_t n = samples;
  double t = Now();
  for (int64_t i = 0; i < n; ++i) {
    WriteBatch b;
    put(i, &b);
    (*db)->Apply(b, false).IgnoreError();
  }
  out.unsynced_per_s = n / (Now() - t);
  const int64_t n_sync = std::min<int64_t>(n, smoke ? 50 : 1000);
  t = Now();
  for (int64_t i = 0; i < n_sync; ++i) {
    WriteBatch b;
    put(n + i, &b);
    (*db)->Apply(b, true).IgnoreError();
  }
  out.sync_each_per_s = n_sync / (Now() - t);
  const int64_t group = std::max<int64_t>(1, static_cast<int64_t>(out.group_samples));
  t = Now();
  for (int64_t i = 0; i < n; i += group) {
    WriteBatch b;
    for (int64_t j = i; j < std::min(n, i + group); ++j) put(2 * n + j, &b);
    (*db)->Apply(b, true).IgnoreError();
  }
  out.synced_batch_per_s = n / (Now() - t);
  return out;
}

struct LeaseResult {
  double rpcs_per_s = 0;
  double health_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  double health_p50_ms = 0, health_p99_ms = 0;
  int64_t cycles = 0;
};

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

LeaseResult Leases(int workers, int cycles_per_worker) {
  LeaseResult out;
  LocalCluster cluster;
  if (!cluster.StartCoordinator()) Fail("the coordinator did not start");
  const int64_t problems = static_cast<int64_t>(workers) * cycles_per_worker;
  auto client = cluster.Client();
  auto job = client->SubmitFile(cluster.WriteSpec(
      absl::StrCat("model: /m\nproblems: ", cluster.WriteProblems(problems), "\nshard_size: 1\nsampling:\n  n: 1\n")));
  if (!job.ok()) Fail(absl::StrCat("submit: ", job.status().message()));
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<v1::WorkerCredentials> ids;
  for (int i = 0; i < workers; ++i) {
    channels.push_back(Channel(cluster));
    auto stub = v1::WorkerService::NewStub(channels.back());
    ids.push_back(RegisterSampler(stub.get()));
  }
  // Baseline: health checks, same channels, same concurrency.
  {
    std::vector<std::vector<double>> lat(workers);
    std::vector<std::thread> threads;
    const double t0 = Now();
    for (int i = 0; i < workers; ++i) {
      threads.emplace_back([&, i] {
        grpc::GenericStub stub(channels[i]);
        grpc::Slice empty("", 0);
        for (int c = 0; c < cycles_per_worker * 3; ++c) {
          grpc::ByteBuffer req(&empty, 1), resp;
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
          std::mutex mu;
          std::condition_variable cv;
          bool done = false;
          const double s = Now();
          stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req, &resp, [&](grpc::Status) {
            std::lock_guard<std::mutex> l(mu);
            done = true;
            cv.notify_all();
          });
          std::unique_lock<std::mutex> l(mu);
          cv.wait(l, [&] { return done; });
          lat[i].push_back((Now() - s) * 1000);
        }
      });
    }
    for (auto& t : threads) t.join();
    const double dt = Now() - t0;
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    out.health_per_s = all.size() / dt;
    out.health_p50_ms = Percentile(all, 0.5);
    out.health_p99_ms = Percentile(all, 0.99);
  }
  std::vector<std::vector<double>> lat(workers);
  std::atomic<int64_t> cycles{0};
  std::vector<std::thread> threads;
  const double t0 = Now();
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back([&, i] {
      auto coord = v1::WorkerService::NewStub(channels[i]);
      auto store = v1::ReplayStore::NewStub(channels[i]);
      for (int c = 0; c < cycles_per_worker; ++c) {
        v1::AcquireWorkRequest aq;
        v1::AcquireWorkResponse work;
        double s = Now();
        {
          auto ctx = CallContext(10000);
          AttachWorkerCredentials(ids[i], ctx.get());
          if (!coord->AcquireWork(ctx.get(), aq, &work).ok()) return;
        }
        lat[i].push_back((Now() - s) * 1000);
        if (!work.has_shard()) break;
        v1::HeartbeatRequest hb;
        *hb.add_leases() = work.shard().lease();
        v1::HeartbeatResponse hr;
        s = Now();
        {
          auto ctx = CallContext(10000);
          AttachWorkerCredentials(ids[i], ctx.get());
          coord->Heartbeat(ctx.get(), hb, &hr);
        }
        lat[i].push_back((Now() - s) * 1000);
        // The shard's one sample (not counted among the lease RPCs).
        {
          grpc::ClientContext ctx;
          AttachWorkerCredentials(ids[i], &ctx);
          v1::AppendResponse ack;
          auto w = store->Append(&ctx, &ack);
          v1::AppendRequest m;
          *m.mutable_lease() = work.shard().lease();
          v1::Sample* x = m.add_samples();
          x->set_problem_id(work.shard().tasks(0).problem().id());
          x->set_text("print(1)\nprint(2)\n");
          x->set_num_tokens(4);
          x->set_finish_reason(v1::FINISH_REASON_STOP);
          w->Write(m);
          w->WritesDone();
          w->Finish();
        }
        v1::ReportWorkRequest rep;
        *rep.mutable_lease() = work.shard().lease();
        rep.mutable_shard_done();
        v1::ReportWorkResponse rr;
        s = Now();
        {
          auto ctx = CallContext(10000);
          AttachWorkerCredentials(ids[i], ctx.get());
          coord->ReportWork(ctx.get(), rep, &rr);
        }
        lat[i].push_back((Now() - s) * 1000);
        ++cycles;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double dt = Now() - t0;
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  // Over the whole wall time, although each cycle also spends an Append:
  // a conservative figure for the three lease RPCs.
  out.rpcs_per_s = all.size() / dt;
  out.p50_ms = Percentile(all, 0.5);
  out.p99_ms = Percentile(all, 0.99);
  out.cycles = cycles.load();
  return out;
}

// ---- weight push --------------------------------------------------------

// Copies `data` over a loopback TCP connection (the baseline of a hop).
double RawTcpGbps(const uint8_t* data, size_t n) {
  LoopbackListener listener = LoopbackListener::Open(1).value();
  std::thread reader([ls = listener.fd()] {
    const int c = accept(ls, nullptr, nullptr);
    std::vector<char> buf(4 << 20);
    while (read(c, buf.data(), buf.size()) > 0) {
    }
    close(c);
  });
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(listener.port()));
  connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  const double t0 = Now();
  for (size_t off = 0; off < n;) {
    const ssize_t w = write(s, data + off, std::min<size_t>(4 << 20, n - off));
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
  shutdown(s, SHUT_WR);
  reader.join();
  const double dt = Now() - t0;
  close(s);
  return n / dt / 1e9;
}

struct PushBenchResult {
  double raw_tcp_gbps = 0;
  std::vector<double> tls_gbps;    // 1, 2, 4 samplers
  std::vector<double> local_gbps;  // the same without TLS (local credentials)
  int64_t bytes = 0;
};

PushBenchResult PushBench(int64_t bytes, const LocalCluster& cluster) {
  PushBenchResult out;
  // A model folder of `bytes` in 8 tensors (what a trainer pushes).
  const std::string model = cluster.dir() + "/push-model";
  if (const std::string e = MakeTinyModel(model); !e.empty()) {
    fprintf(stderr, "push bench: making the model: %s\n", e.c_str());
    std::exit(1);
  }
  const int64_t per = bytes / 8 / 4;
  std::vector<float> w(static_cast<size_t>(per), 0.5f);
  std::vector<TensorToWrite> tensors;
  std::vector<std::string> names;
  for (int i = 0; i < 8; ++i) names.push_back("w" + std::to_string(i));
  for (int i = 0; i < 8; ++i) tensors.push_back({names[i], DType::kF32, {per}, w.data()});
  if (absl::Status s = WriteSafetensors(model + "/model.safetensors", tensors); !s.ok()) {
    fprintf(stderr, "push bench: %s\n", std::string(s.message()).c_str());
    std::exit(1);
  }
  v1::WeightsRef ref;
  ref.set_job_id("job-000001");
  ref.set_version(1);
  auto src = WeightsSource::Open(model, ref, kDefaultWeightsChunkBytes);
  if (!src.ok()) {
    fprintf(stderr, "push bench: %s\n", std::string(src.status().message()).c_str());
    std::exit(1);
  }
  out.bytes = (*src)->manifest().total_bytes();
  {
    MappedFile f = *MappedFile::Open(model + "/model.safetensors");
    std::vector<double> raw;
    for (int r = 0; r < 3; ++r) raw.push_back(RawTcpGbps(f.data(), f.size()));
    std::sort(raw.begin(), raw.end());
    out.raw_tcp_gbps = raw[1];
  }
  for (bool tls : {true, false}) {
    SecurityOptions server_sec, client_sec;
    client_sec.token = server_sec.token = *ReadTokenFile(cluster.certs() + "/token");
    if (tls) {
      server_sec.cert_file = cluster.certs() + "/server.pem";
      server_sec.key_file = cluster.certs() + "/server.key";
      client_sec.ca_file = cluster.certs() + "/ca.pem";
    } else {
      server_sec.insecure = client_sec.insecure = true;
    }
    ChannelFactory channels = [client_sec](const std::string& a) -> absl::StatusOr<std::shared_ptr<grpc::Channel>> {
      ChannelOptions c;
      c.target = a;
      c.security = client_sec;
      return MakeChannel(c);
    };
    for (int k : {1, 2, 4}) {
      struct Peer {
        std::unique_ptr<WeightsStore> store;
        std::unique_ptr<SamplerService> service;
        BuiltServer server;
      };
      std::vector<std::unique_ptr<Peer>> peers;
      std::vector<v1::PushTarget> chain;
      for (int i = 0; i < k; ++i) {
        auto p = std::make_unique<Peer>();
        p->store = *WeightsStore::Open(absl::StrCat(cluster.dir(), "/peer-", tls, "-", k, "-", i));
        SamplerServiceHooks hooks;
        const std::string id = "sampler-" + std::to_string(i + 1);
        hooks.worker_id = [id] { return id; };
        p->service = std::make_unique<SamplerService>(p->store.get(), channels, hooks, SamplerServiceOptions());
        ServerOptions so;
        so.security = server_sec;
        p->server = *BuildServer(so, {p->service.get()});
        v1::PushTarget t;
        t.set_worker_id(id);
        t.set_address(absl::StrCat(tls ? "localhost:" : "127.0.0.1:", p->server.port));
        chain.push_back(t);
        peers.push_back(std::move(p));
      }
      const double t0 = Now();
      auto r = PushToChain(**src, chain, "", channels, 600000);
      const double dt = Now() - t0;
      if (!r.ok() || r->reached_size() != k)
        fprintf(stderr, "push to %d: %s\n", k, std::string(r.status().message()).c_str());
      (tls ? out.tls_gbps : out.local_gbps).push_back(out.bytes / dt / 1e9);
      for (auto& p : peers) p->server.server->Shutdown();
      std::system(absl::StrCat("rm -rf ", cluster.dir(), "/peer-", tls, "-", k, "-*").c_str());
    }
  }
  return out;
}

// ---- end-to-end sampling ------------------------------------------------

struct SamplingResult {
  double cluster_samples_per_s = 0;
  double local_samples_per_s = 0;
  int64_t samples = 0;
};

SamplingResult SamplingBench(bool smoke, const LocalCluster& tools) {
  SamplingResult out;
  // A 6-layer, 256-wide qwen3 with a 2048-token tokenizer.
  const std::string model = tools.dir() + "/sampling-model";
  std::string corpus;
  for (int i = 0; i < 400; ++i) {
    corpus += absl::StrCat("def solve_", i, "(n):\n    total = 0\n    for k in range(n):\n        total += k * ", i,
                           "\n    return total\nprint(solve_", i, "(int(input())))\n");
  }
  std::ofstream(tools.dir() + "/corpus.txt") << corpus;
  const ProcessResult tok = RunProcess({SsdBinary(), "tokenizer", "train", "--corpus", tools.dir() + "/corpus.txt",
                                        "--vocab-size", "2048", "--out", model});
  if (tok.exit_code != 0) Fail("ssd tokenizer train: " + tok.err);
  const ProcessResult init =
      RunProcess({SsdBinary(), "model", "init", "--vocab", "2048", "--hidden", "256", "--layers", "6", "--out", model});
  if (init.exit_code != 0) Fail("ssd model init: " + init.err);
  const int problems = smoke ? 4 : 32;
  const int n = 4;
  const int max_tokens = smoke ? 16 : 128;
  std::string prompts;
  for (int i = 0; i < problems; ++i)
    absl::StrAppend(&prompts, "{\"id\": \"p", i, "\", \"prompt\": \"def solve_", i, "(n):\"}\n");
  const std::string prompts_file = tools.dir() + "/sampling-prompts.jsonl";
  std::ofstream(prompts_file) << prompts;
  out.samples = static_cast<int64_t>(problems) * n;
  auto local = [&] {
    const double t0 = Now();
    const ProcessResult r = RunProcess({"/usr/bin/env",  "OMP_WAIT_POLICY=PASSIVE",
                                        SsdBinary(),     "sample",
                                        "--model",       model,
                                        "--prompts",     prompts_file,
                                        "--n",           std::to_string(n),
                                        "--temperature", "1.5",
                                        "--top-k",       "20",
                                        "--top-p",       "0.8",
                                        "--max-tokens",  std::to_string(max_tokens),
                                        "--threads",     "2",
                                        "--out",         tools.dir() + "/local.jsonl"},
                                       600);
    if (r.exit_code != 0) Fail("ssd sample: " + r.err);
    return out.samples / (Now() - t0);
  };
  const double before = local();
  {
    LocalCluster cluster;
    if (!cluster.StartCoordinator({"--heartbeat-interval-ms", "500"})) Fail("the coordinator did not start");
    cluster.StartSampler();
    cluster.StartSampler();
    auto client = cluster.Client();
    // Let both samplers register before the clock starts.
    WaitUntil([&] { return client->ListWorkers(false)->workers_size() == 2; }, 30);
    const double t0 = Now();
    auto job = client->Submit(
        absl::StrCat("model: ", model, "\nproblems: ", prompts_file, "\nshard_size: 2\nsampling:\n  n: ", n,
                     "\n  temperature: 1.5\n  top_k: 20\n", "  top_p: 0.8\n  max_tokens: ", max_tokens, "\n"),
        cluster.dir());
    if (!job.ok()) Fail(absl::StrCat("submit: ", job.status().message()));
    const bool sampled = WaitUntil(
        [&] {
          auto j = client->GetJob(job->job_id());
          return j.ok() && j->state() == v1::JOB_STATE_TRAINING;
        },
        600);
    if (!sampled) Fail("the cluster did not finish sampling within 600 s");
    out.cluster_samples_per_s = out.samples / (Now() - t0);
  }
  const double after = local();
  out.local_samples_per_s = (before + after) / 2;
  return out;
}
}  // namespace
}  // namespace ssd

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  std::string only;  // --only ingest|leases|push|sampling
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0) smoke = true;
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
  }
  auto want = [&](const char* part) { return only.empty() || only == part; };
  const int repeats = smoke ? 1 : 3;
  printf("cluster_bench%s: coordinator as a separate process over TLS on 127.0.0.1, %u cores; medians of %d runs\n\n",
         smoke ? " --smoke" : "", std::thread::hardware_concurrency(), repeats);
  if (want("ingest")) {
    printf("## Replay-store ingest, 4 streams, durable acks\n\n");
    printf(
        "| sample | samples | gRPC samples/s | raw unsynced | raw sync per put | raw synced batches | gRPC / synced "
        "batches |\n");
    printf("|---|---|---|---|---|---|---|\n");
    struct Case {
      size_t bytes;
      int64_t samples;
      int per_message;
    };
    const Case cases[] = {{1024, smoke ? 2000 : 100000, 64}, {65536, smoke ? 200 : 4000, 16}};
    for (const Case& c : cases) {
      std::vector<double> grpc, unsynced, each, batch, group, ratio;
      for (int r = 0; r < repeats; ++r) {
        const ssd::IngestResult x = ssd::Ingest(c.bytes, c.samples, c.per_message, smoke);
        grpc.push_back(x.grpc_per_s);
        unsynced.push_back(x.unsynced_per_s);
        each.push_back(x.sync_each_per_s);
        batch.push_back(x.synced_batch_per_s);
        group.push_back(x.group_samples);
        ratio.push_back(x.synced_batch_per_s > 0 ? x.grpc_per_s / x.synced_batch_per_s : 0);
      }
      const double g = Median(grpc);
      printf("| %zu KiB | %ld | %.0f | %.0f (%.2fx) | %.0f (%.1fx) | %.0f (%.0f per sync) | %.2fx |\n", c.bytes / 1024,
             static_cast<long>(c.samples), g, Median(unsynced), g / Median(unsynced), Median(each), g / Median(each),
             Median(batch), Median(group), Median(ratio));
      fflush(stdout);
    }
  }
  if (want("leases")) {
    const int workers = 100;
    const int cycles = smoke ? 3 : 60;
    printf("\n## Lease traffic, %d workers (grant + renew + report per shard)\n\n", workers);
    std::vector<double> rps, p50, p99, hrps, hp50, hp99, ratio;
    int64_t total_cycles = 0;
    for (int r = 0; r < repeats; ++r) {
      const ssd::LeaseResult l = ssd::Leases(workers, cycles);
      rps.push_back(l.rpcs_per_s);
      p50.push_back(l.p50_ms);
      p99.push_back(l.p99_ms);
      hrps.push_back(l.health_per_s);
      hp50.push_back(l.health_p50_ms);
      hp99.push_back(l.health_p99_ms);
      ratio.push_back(l.health_per_s > 0 ? l.rpcs_per_s / l.health_per_s : 0);
      total_cycles += l.cycles;
    }
    printf("| RPC | RPCs/s | p50 ms | p99 ms |\n|---|---|---|---|\n");
    printf("| health Check (baseline) | %.0f | %.2f | %.2f |\n", Median(hrps), Median(hp50), Median(hp99));
    printf("| AcquireWork + Heartbeat + ReportWork | %.0f (%.2fx) | %.2f | %.2f |\n", Median(rps), Median(ratio),
           Median(p50), Median(p99));
    printf(
        "\n%ld lease cycles in all; each also appends its shard's one sample, which is not counted as a lease RPC "
        "but shares the wall time\n",
        static_cast<long>(total_cycles));
  }
  ssd::LocalCluster tools;
  if (want("push")) {
    const int64_t push_bytes = smoke ? (16 << 20) : (int64_t{512} << 20);
    printf("\n## Weight push of a %.0f MB checkpoint down a chain of in-process samplers\n\n", push_bytes / 1e6);
    const ssd::PushBenchResult p = ssd::PushBench(push_bytes, tools);
    printf("| samplers | TLS GB/s | vs raw TCP | without TLS GB/s | vs raw TCP | time vs 1 sampler (TLS) |\n");
    printf("|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < p.tls_gbps.size() && i < p.local_gbps.size(); ++i) {
      const int k = 1 << i;
      printf("| %d | %.2f | %.2fx | %.2f | %.2fx | %.2fx |\n", k, p.tls_gbps[i], p.tls_gbps[i] / p.raw_tcp_gbps,
             p.local_gbps[i], p.local_gbps[i] / p.raw_tcp_gbps, p.tls_gbps[0] / p.tls_gbps[i]);
    }
    printf("\nraw loopback TCP copy of the same bytes: %.2f GB/s (median of 3)\n", p.raw_tcp_gbps);
  }
  if (want("sampling")) {
    printf("\n## Sampling: a cluster of 2 samplers (1 thread each) against ssd sample with 2 threads\n\n");
    const ssd::SamplingResult sres = ssd::SamplingBench(smoke, tools);
    printf("| | samples/s | ratio |\n|---|---|---|\n");
    printf("| ssd sample, 2 threads (before and after, averaged) | %.2f | 1.00x |\n", sres.local_samples_per_s);
    printf("| cluster: coordinator + 2 samplers x 1 thread | %.2f | %.2fx |\n", sres.cluster_samples_per_s,
           sres.cluster_samples_per_s / sres.local_samples_per_s);
    printf("\n%ld samples each, prompt to durable sample, model loading included\n", static_cast<long>(sres.samples));
  }
  return 0;
}
