// The control plane as real processes on 127.0.0.1: `ssd coordinator` and
// simulated samplers and trainers (tests/cluster/sim_worker.cc) speaking the
// real RPCs over TLS with the cluster token. Workers are SIGKILLed, the
// coordinator is SIGKILLed and restarted, and every sample must be stored
// exactly once.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <map>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/rpc/channel_builder.h"
#include "common/rpc/security.h"
#include "common/rpc/worker_credentials.h"
#include "common/util/file_util.h"
#include "coordinator/job_spec.h"
#include "nlohmann/json.hpp"
#include "tests/cluster/cluster_harness.h"

namespace ssd {
namespace {

const std::vector<std::string> kFastTimeouts = {"--lease-ttl-ms",      "1500", "--heartbeat-interval-ms", "200",
                                                "--worker-timeout-ms", "2500", "--recovery-grace-ms",     "4000"};

std::string SamplingSpec(const std::string& problems, const std::string& extra = "") {
  return absl::StrCat("name: cluster-test\nmodel: /models/sim\nproblems: ", problems,
                      "\nshard_size: 4\nsampling:\n  n: 2\n  seed: 7\n", extra);
}

// Every (problem, index) of the round with how often it is stored.
std::map<std::pair<std::string, int64_t>, int> ScanRound(ClusterClient* client, const std::string& job, int round) {
  std::map<std::pair<std::string, int64_t>, int> seen;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ScanRequest req;
  req.set_job_id(job);
  req.set_round(round);
  auto reader = client->replay_store()->Scan(&ctx, req);
  v1::ScanResponse page;
  while (reader->Read(&page)) {
    for (const auto& s : page.samples()) ++seen[{s.sample().problem_id(), s.sample().sample_index()}];
  }
  EXPECT_TRUE(reader->Finish().ok());
  return seen;
}

void ExpectExactlyOnce(const std::map<std::pair<std::string, int64_t>, int>& seen, int problems, int n) {
  EXPECT_EQ(seen.size(), static_cast<size_t>(problems * n));
  for (int p = 0; p < problems; ++p) {
    for (int i = 0; i < n; ++i) {
      auto it = seen.find({absl::StrCat("p", p), i});
      EXPECT_TRUE(it != seen.end() && it->second == 1)
          << "p" << p << "#" << i << " stored " << (it == seen.end() ? 0 : it->second) << " times";
    }
  }
}

bool WaitForState(ClusterClient* client, const std::string& job, v1::JobState state, double timeout_s) {
  return WaitUntil(
      [&] {
        auto j = client->GetJob(job);
        return j.ok() && j->state() == state;
      },
      timeout_s);
}

TEST(ClusterTest, FourSamplersOneKilledMidShardReachTrainingWithEverySampleExactlyOnce) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kFastTimeouts)) << cluster.coordinator()->Log();
  auto client = cluster.Client();
  auto job = client->SubmitFile(cluster.WriteSpec(SamplingSpec(cluster.WriteProblems(40))));
  ASSERT_TRUE(job.ok()) << job.status();
  BackgroundProcess* victim = cluster.StartWorker("sampler", {"--sample-ms", "20", "--pause-after", "3"});
  ASSERT_TRUE(victim->WaitForLog("PAUSED", 30)) << victim->Log();
  for (int i = 0; i < 3; ++i) cluster.StartWorker("sampler", {"--sample-ms", "20"});
  victim->Signal(SIGKILL);
  ASSERT_NE(victim->Wait(10), -1);
  std::smatch m;
  const std::string vlog = victim->Log();
  ASSERT_TRUE(std::regex_search(vlog, m, std::regex("PAUSED after 3 samples in shard (\\d+)")));
  const std::string shard = m[1];
  ASSERT_TRUE(std::regex_search(vlog, m, std::regex("registered as (sampler-\\d+)")));
  const std::string victim_id = m[1];

  ASSERT_TRUE(WaitForState(client.get(), job->job_id(), v1::JOB_STATE_TRAINING, 90)) << cluster.coordinator()->Log();
  ExpectExactlyOnce(ScanRound(client.get(), job->job_id(), 1), 40, 2);
  // The killed worker's shard went back to the queue once its lease lapsed,
  // and another sampler finished it without re-sending what was stored.
  const std::string log = cluster.coordinator()->Log();
  EXPECT_TRUE(log.find("worker " + victim_id + " missed its heartbeats") != std::string::npos ||
              log.find("held by " + victim_id + " expired") != std::string::npos)
      << log;
  bool finished_by_other = false;
  for (size_t i = 1; i < cluster.workers().size(); ++i) {
    const std::string wlog = cluster.workers()[i]->Log();
    finished_by_other |= wlog.find(absl::StrCat("shard ", shard, " done: 5 new, 0 duplicates")) != std::string::npos;
  }
  EXPECT_TRUE(finished_by_other) << "shard " << shard << " should be finished with its 5 missing samples";
  // Silent past the worker timeout, it is declared dead.
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto workers = client->ListWorkers(true);
        for (const auto& w : workers->workers()) {
          if (w.worker_id() == victim_id) return w.state() == v1::WORKER_STATE_DEAD;
        }
        return false;
      },
      10));
  const std::string metrics = cluster.HttpGet("/metrics");
  EXPECT_NE(metrics.find("ssd_leases_expired_total 1"), std::string::npos) << metrics.substr(0, 2000);
  EXPECT_NE(metrics.find("ssd_samples_appended_total 80"), std::string::npos);
  EXPECT_NE(metrics.find("ssd_jobs{state=\"TRAINING\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("ssd_workers{role=\"SAMPLER\",state=\"DEAD\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("ssd_rpc_server_duration_seconds_bucket{method=\"/ssd.v1.ReplayStore/Append\""),
            std::string::npos);
}

TEST(ClusterTest, CoordinatorKilledMidSamplingRestartsOnItsDataAndTheRoundCompletesExactlyOnce) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kFastTimeouts));
  auto client = cluster.Client();
  auto job = client->SubmitFile(cluster.WriteSpec(SamplingSpec(cluster.WriteProblems(48))));
  ASSERT_TRUE(job.ok()) << job.status();
  for (int i = 0; i < 3; ++i) cluster.StartWorker("sampler", {"--sample-ms", "25"});
  int64_t before = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto j = client->GetJob(job->job_id());
        before = j.ok() ? j->progress().samples_done() : 0;
        return before >= 20;
      },
      60));
  cluster.KillCoordinator(SIGKILL);
  ASSERT_TRUE(cluster.StartCoordinator(kFastTimeouts)) << cluster.coordinator()->Log();
  // The client's channel reconnects to the restarted coordinator.
  absl::StatusOr<v1::Job> after = absl::UnavailableError("not yet");
  ASSERT_TRUE(WaitUntil(
      [&] {
        after = client->GetJob(job->job_id());
        return after.ok();
      },
      30))
      << after.status();
  EXPECT_EQ(after->state(), v1::JOB_STATE_SAMPLING);
  EXPECT_GE(after->progress().samples_done(), before) << "an acknowledged sample was lost";
  ASSERT_TRUE(WaitForState(client.get(), job->job_id(), v1::JOB_STATE_TRAINING, 90)) << cluster.coordinator()->Log();
  ExpectExactlyOnce(ScanRound(client.get(), job->job_id(), 1), 48, 2);
  // The same three workers carried on: nobody had to register anew.
  auto workers = client->ListWorkers(true);
  ASSERT_TRUE(workers.ok());
  EXPECT_EQ(workers->workers_size(), 3);
  for (const auto& w : workers->workers()) EXPECT_EQ(w.state(), v1::WORKER_STATE_ALIVE) << w.worker_id();
  EXPECT_NE(cluster.coordinator()->Log().find("recovered 1 jobs, 3 workers"), std::string::npos);
  // SIGTERM is a clean shutdown: exit 0 within the drain grace.
  cluster.coordinator()->Signal(SIGTERM);
  const int status = cluster.coordinator()->Wait(15);
  ASSERT_NE(status, -1) << "the coordinator did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cluster.coordinator()->Log();
}

TEST(ClusterTest, SubmitFollowsAJobWithTrainingPushAndEvalToSucceededAndExitsZero) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kFastTimeouts));
  const std::string spec = cluster.WriteSpec(SamplingSpec(
      cluster.WriteProblems(12),
      absl::StrCat("rounds: 2\ntrain:\n  max_seq_len: 512\n  micro_batch_tokens: 1024\n  batch_tokens: 2048\n"
                   "eval:\n  benchmark: ",
                   SourceDir(),
                   "/tests/fixtures/eval/lcb_mini.jsonl\n  n: 4\n  temperatures: [0.6, 1.0]\n"
                   "  base_temperatures: [0.7]\n  ks: [1, 2]\n")));
  for (int i = 0; i < 2; ++i) cluster.StartWorker("sampler", {"--sample-ms", "2"});
  cluster.StartWorker("trainer", {"--train-steps", "4"});
  const ProcessResult r = cluster.Ssd({"submit", spec}, 120);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("job-000001 SUCCEEDED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("base model"), std::string::npos);
  EXPECT_NE(r.out.find("round 2"), std::string::npos);
  EXPECT_NE(r.out.find("| 0.60 | top_k 20, top_p 0.8 | overall | 5 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chosen T = "), std::string::npos);
  auto client = cluster.Client();
  auto j = client->GetJob("job-000001");
  ASSERT_TRUE(j.ok());
  ASSERT_EQ(j->evals_size(), 3);  // base, round 1, round 2
  EXPECT_EQ(j->rounds_size(), 2);
  EXPECT_EQ(j->rounds(1).model_path(), "/tmp/sim-job-000001-round-2");
  const ProcessResult json = cluster.Ssd({"status", "job-000001", "--json"});
  ASSERT_EQ(json.exit_code, 0) << "signal " << json.signal << (json.timed_out ? " (timed out)" : "") << "\n"
                               << json.out << json.err;
  EXPECT_EQ(nlohmann::json::parse(json.out)["state"], "SUCCEEDED");
}

TEST(ClusterTest, WatchExitCodesSayHowTheJobEndedAndCancelStopsIt) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kFastTimeouts));
  const std::string spec = cluster.WriteSpec(SamplingSpec(cluster.WriteProblems(8)));
  const ProcessResult submitted = cluster.Ssd({"submit", spec, "--detach"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string id(absl::StripAsciiWhitespace(submitted.out));
  // Ctrl-C detaches (130) and never cancels the job.
  {
    BackgroundProcess detach({SsdBinary(), "watch", id, "--coordinator", cluster.address(), "--certs", cluster.certs()},
                             cluster.dir() + "/detach.log");
    ASSERT_TRUE(detach.WaitForLog("SAMPLING", 30)) << detach.Log();
    kill(detach.pid(), SIGINT);
    const int st = detach.Wait(15);
    ASSERT_NE(st, -1);
    EXPECT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 130) << detach.Log();
    EXPECT_NE(detach.Log().find("detached from " + id), std::string::npos);
    EXPECT_EQ(cluster.Client()->GetJob(id)->state(), v1::JOB_STATE_SAMPLING);
  }
  // A watch running while the job is cancelled returns 4.
  BackgroundProcess watch({SsdBinary(), "watch", id, "--coordinator", cluster.address(), "--certs", cluster.certs()},
                          cluster.dir() + "/watch.log");
  ASSERT_TRUE(watch.WaitForLog("SAMPLING", 30)) << watch.Log();
  EXPECT_EQ(cluster.Ssd({"cancel", id, "--reason", "test over"}).exit_code, 0);
  const int status = watch.Wait(30);
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 4) << watch.Log();
  EXPECT_NE(watch.Log().find("test over"), std::string::npos);
  // A job that fails: every shard attempt is refused by a sampler that dies.
  const std::string spec2 =
      cluster.WriteSpec(SamplingSpec(cluster.WriteProblems(4, "p2.jsonl"), "max_shard_attempts: 1\n"), "job2.yaml");
  const ProcessResult s2 = cluster.Ssd({"submit", spec2, "--detach"});
  const std::string id2(absl::StripAsciiWhitespace(s2.out));
  BackgroundProcess* dying = cluster.StartWorker("sampler", {"--pause-after", "1"});
  ASSERT_TRUE(dying->WaitForLog("PAUSED", 30));
  dying->Signal(SIGKILL);
  const ProcessResult failed = cluster.Ssd({"watch", id2}, 60);
  EXPECT_EQ(failed.exit_code, 3) << failed.out << failed.err;
  EXPECT_NE(failed.out.find("FAILED"), std::string::npos);
  // Unknown jobs are errors, not hangs.
  const ProcessResult unknown = cluster.Ssd({"watch", "job-424242"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no job \"job-424242\""), std::string::npos) << unknown.err;
}

TEST(ClusterTest, ExportWritesMlSsdJsonlAndImportOfItRoundTrips) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kFastTimeouts));
  const std::string spec = cluster.WriteSpec(SamplingSpec(cluster.WriteProblems(10)));
  auto client = cluster.Client();
  auto job = client->SubmitFile(spec);
  ASSERT_TRUE(job.ok());
  cluster.StartWorker("sampler", {"--sample-ms", "1"});
  ASSERT_TRUE(WaitForState(client.get(), job->job_id(), v1::JOB_STATE_TRAINING, 60));
  const std::string out1 = cluster.dir() + "/round1.jsonl";
  const ProcessResult e1 = cluster.Ssd({"export", job->job_id(), "--round", "1", "--out", out1});
  ASSERT_EQ(e1.exit_code, 0) << e1.err;
  auto text = ReadFileToString(out1);
  ASSERT_TRUE(text.ok());
  auto j = client->GetJob(job->job_id());
  const int64_t survivors = j->rounds(0).filter().survivors();
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    ++lines;
    const nlohmann::json conv = nlohmann::json::parse(line);
    ASSERT_EQ(conv.size(), 1u);
    ASSERT_EQ(conv["messages"].size(), 2u);
    EXPECT_EQ(conv["messages"][0]["role"], "user");
    EXPECT_EQ(conv["messages"][1]["role"], "assistant");
    EXPECT_TRUE(conv["messages"][1]["content"].is_string());
  }
  EXPECT_EQ(lines, survivors);
  EXPECT_LT(survivors, 20) << "the filter drops empty samples and the shortest 10%";
  // Import as a job with no filter, export again: the same file.
  const std::string ispec = cluster.WriteSpec(
      "model: /models/sim\nfilter:\n  drop_shortest_percent: 0\n  drop_empty: false\n", "import.yaml");
  const ProcessResult imp = cluster.Ssd({"import", out1, "--spec", ispec, "--detach"});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  const std::string id2(absl::StripAsciiWhitespace(imp.out));
  ASSERT_TRUE(WaitForState(client.get(), id2, v1::JOB_STATE_TRAINING, 30));
  const std::string out2 = cluster.dir() + "/round1.again.jsonl";
  ASSERT_EQ(cluster.Ssd({"export", id2, "--out", out2}).exit_code, 0);
  EXPECT_EQ(*ReadFileToString(out2), *text);
  // Before filtering a survivors-only export is refused and says what to do.
  const std::string spec3 = cluster.WriteSpec(SamplingSpec(cluster.WriteProblems(4, "p3.jsonl")), "j3.yaml");
  auto job3 = client->SubmitFile(spec3);
  ASSERT_TRUE(job3.ok());
  cluster.workers().clear();
  const ProcessResult early = cluster.Ssd({"export", job3->job_id(), "--out", cluster.dir() + "/x.jsonl"});
  EXPECT_EQ(early.exit_code, 1);
  EXPECT_NE(early.err.find("not filtered yet"), std::string::npos) << early.err;
  EXPECT_NE(early.err.find("--all"), std::string::npos);
}

TEST(ClusterTest, PythonClientSubmitsFollowsAndPrintsTheEvalTable) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(kFastTimeouts));
  const std::string spec = cluster.WriteSpec(
      SamplingSpec(cluster.WriteProblems(8), absl::StrCat("train:\n  max_seq_len: 512\n  micro_batch_tokens: 1024\n"
                                                          "  batch_tokens: 2048\neval:\n  benchmark: ",
                                                          SourceDir(),
                                                          "/tests/fixtures/eval/lcb_mini.jsonl\n  n: 2\n"
                                                          "  temperatures: [0.8]\n  ks: [1]\n")));
  cluster.StartWorker("sampler", {"--sample-ms", "1"});
  cluster.StartWorker("trainer", {"--train-steps", "2"});
  const char* build = std::getenv("SSD_BUILD_DIR");
  ASSERT_NE(build, nullptr);
  const ProcessResult r = RunProcess({"/usr/bin/env", absl::StrCat("PYTHONPATH=", build, "/python"), "/usr/bin/python3",
                                      SourceDir() + "/deploy/examples/submit_and_watch.py", "--coordinator",
                                      cluster.address(), "--certs", cluster.certs(), spec},
                                     120);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("job-000001"), std::string::npos);
  EXPECT_NE(r.out.find("SAMPLING round 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("job job-000001 SUCCEEDED"), std::string::npos);
  EXPECT_NE(r.out.find("| 0.80 | top_k 20, top_p 0.8 | overall | 5 |"), std::string::npos) << r.out;
  // A bad spec comes back as INVALID_ARGUMENT with the field.
  const std::string bad = cluster.WriteSpec("model: m\nproblems: x\nsampling:\n  top_p: 1.5\n", "bad.yaml");
  const ProcessResult rb = RunProcess({"/usr/bin/env", absl::StrCat("PYTHONPATH=", build, "/python"),
                                       "/usr/bin/python3", SourceDir() + "/deploy/examples/submit_and_watch.py",
                                       "--coordinator", cluster.address(), "--certs", cluster.certs(), bad},
                                      60);
  EXPECT_EQ(rb.exit_code, 2);
  EXPECT_NE(rb.err.find("INVALID_ARGUMENT: sampling.top_p: must be in (0, 1], got 1.5"), std::string::npos) << rb.err;
}

// ---- bad input against a live coordinator: each a status code and a
// message, and afterwards the coordinator still serves and the store still
// holds every sample.
class BadInputTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster();
    std::vector<std::string> args = kFastTimeouts;
    // Small limits, so that each test can send just over one.
    args.insert(args.end(), {"--max-message-mb", "1", "--max-streams-per-client", "4", "--max-problems-per-job", "8",
                             "--max-sample-bytes", "65536"});
    ASSERT_TRUE(cluster_->StartCoordinator(args));
    auto client = cluster_->Client();
    auto job = client->SubmitFile(cluster_->WriteSpec(SamplingSpec(cluster_->WriteProblems(8))));
    ASSERT_TRUE(job.ok()) << job.status();
    job_ = new std::string(job->job_id());
    // Store some samples, then stop the sampler so leases stay put.
    BackgroundProcess* s = cluster_->StartWorker("sampler", {"--pause-after", "6", "--per-message", "1"});
    ASSERT_TRUE(s->WaitForLog("PAUSED", 30));
    stored_ = client->Stats(*job_)->total_samples();
    ASSERT_GE(stored_, 4);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete job_;
  }
  void TearDown() override {
    // Whatever the test sent, the daemon is alive and lost nothing.
    ASSERT_TRUE(cluster_->coordinator()->running()) << cluster_->coordinator()->Log();
    auto stats = cluster_->Client()->Stats(*job_);
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(stats->total_samples(), stored_);
    EXPECT_EQ(cluster_->HttpGet("/healthz"), "200\nok\n");
  }
  v1::RegisterWorkerResponse Register() {
    v1::RegisterWorkerRequest req;
    req.set_role(v1::WORKER_ROLE_SAMPLER);
    req.set_address("127.0.0.1:1");
    v1::RegisterWorkerResponse resp;
    auto ctx = CallContext(5000);
    EXPECT_TRUE(cluster_->Client()->workers()->RegisterWorker(ctx.get(), req, &resp).ok());
    return resp;
  }
  v1::AcquireWorkResponse Acquire(const v1::WorkerCredentials& id) {
    v1::AcquireWorkRequest req;
    v1::AcquireWorkResponse work;
    auto ctx = CallContext(5000);
    AttachWorkerCredentials(id, ctx.get());
    EXPECT_TRUE(cluster_->Client()->workers()->AcquireWork(ctx.get(), req, &work).ok());
    return work;
  }
  void Deregister(const v1::WorkerCredentials& id) {
    v1::DeregisterRequest d;
    v1::DeregisterResponse dr;
    auto ctx = CallContext(5000);
    AttachWorkerCredentials(id, ctx.get());
    cluster_->Client()->workers()->Deregister(ctx.get(), d, &dr);
  }
  static grpc::Status AppendOne(ClusterClient* c, const v1::WorkerCredentials& id, const v1::LeaseRef& lease,
                                const std::string& problem, int64_t index,
                                const std::string& text = "print(1)\nprint(2)\n") {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    AttachWorkerCredentials(id, &ctx);
    v1::AppendResponse resp;
    auto w = c->replay_store()->Append(&ctx, &resp);
    v1::AppendRequest m;
    *m.mutable_lease() = lease;
    v1::Sample* s = m.add_samples();
    s->set_problem_id(problem);
    s->set_sample_index(index);
    s->set_text(text);
    s->set_num_tokens(4);
    s->set_finish_reason(v1::FINISH_REASON_STOP);
    w->Write(m);
    w->WritesDone();
    return w->Finish();
  }
  static LocalCluster* cluster_;
  static std::string* job_;
  static int64_t stored_;
};
LocalCluster* BadInputTest::cluster_ = nullptr;
std::string* BadInputTest::job_ = nullptr;
int64_t BadInputTest::stored_ = 0;

TEST_F(BadInputTest, AnInvalidJobSpecFieldIsInvalidArgumentNamingTheField) {
  auto r = cluster_->Client()->Submit("model: m\nproblems: p\nsampling:\n  top_p: 1.5\n", cluster_->dir());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "sampling.top_p: must be in (0, 1], got 1.5");
}

TEST_F(BadInputTest, AnUnknownSpecFieldIsInvalidArgument) {
  auto r = cluster_->Client()->Submit("model: m\nproblems: p\nsampling:\n  temprature: 1\n", cluster_->dir());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("sampling.temprature: unknown field (did you mean temperature?)"),
            std::string::npos)
      << r.status();
}

TEST_F(BadInputTest, AnUnknownJobIdIsNotFoundForGetCancelAndWatch) {
  auto c = cluster_->Client();
  EXPECT_EQ(c->GetJob("job-777777").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c->Cancel("job-777777", "").status().code(), absl::StatusCode::kNotFound);
  const absl::Status w = c->Watch(
      "job-777777", [](const v1::Job&) {}, nullptr);
  EXPECT_EQ(w.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(w.message().find("no job \"job-777777\""), std::string::npos) << w;
}

TEST_F(BadInputTest, ASampleForAnUnknownJobIsNotFound) {
  const auto reg = Register();
  v1::LeaseRef lease;
  lease.set_job_id("job-555555");
  lease.set_round(1);
  lease.set_kind(v1::LEASE_KIND_SAMPLE);
  lease.set_epoch(1);
  const grpc::Status s = AppendOne(cluster_->Client().get(), reg.credentials(), lease, "p0", 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("no job \"job-555555\""), std::string::npos) << s.error_message();
}

TEST_F(BadInputTest, ASampleOutsideTheSendersLeaseIsPermissionDenied) {
  auto c = cluster_->Client();
  const auto reg = Register();
  const v1::AcquireWorkResponse work = Acquire(reg.credentials());
  ASSERT_TRUE(work.has_shard()) << work.DebugString();
  // A problem of another shard under this lease...
  const std::string other = work.shard().lease().shard() == 0 ? "p7" : "p0";
  grpc::Status s = AppendOne(c.get(), reg.credentials(), work.shard().lease(), other, 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("outside this lease"), std::string::npos) << s.error_message();
  // ...and another worker's lease altogether.
  const auto thief = Register();
  s = AppendOne(c.get(), thief.credentials(), work.shard().lease(), work.shard().tasks(0).problem().id(), 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("belongs to " + reg.credentials().worker_id()), std::string::npos)
      << s.error_message();
  Deregister(reg.credentials());
}

TEST_F(BadInputTest, RenewingAnotherWorkersLeaseIsPermissionDenied) {
  auto c = cluster_->Client();
  const auto owner = Register();
  const v1::AcquireWorkResponse work = Acquire(owner.credentials());
  ASSERT_TRUE(work.has_shard());
  const auto other = Register();
  v1::HeartbeatRequest hb;
  *hb.add_leases() = work.shard().lease();
  v1::HeartbeatResponse resp;
  auto hctx = CallContext(5000);
  AttachWorkerCredentials(other.credentials(), hctx.get());
  const grpc::Status s = c->workers()->Heartbeat(hctx.get(), hb, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("is held by " + owner.credentials().worker_id() + ", not by " +
                                   other.credentials().worker_id()),
            std::string::npos)
      << s.error_message();
  Deregister(owner.credentials());
}

// ---- limits: each test sends just over one (set small in SetUpTestSuite);
// TearDown checks the coordinator still serves and lost nothing.

TEST_F(BadInputTest, AMessageOneByteOverTheSizeLimitIsResourceExhausted) {
  // A SubmitJobRequest of 1 MiB + a few bytes of framing; the limit is 1 MiB.
  auto r = cluster_->Client()->Submit(std::string(1 << 20, '#'), cluster_->dir());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  // Just under it, the message arrives (and the spec's own limit answers).
  auto under = cluster_->Client()->Submit(std::string((1 << 20) - 64, '#'), cluster_->dir());
  EXPECT_EQ(under.status().code(), absl::StatusCode::kInvalidArgument) << under.status();
}

TEST_F(BadInputTest, AJobSpecOneByteOverItsLimitIsInvalidArgumentNamingTheLimit) {
  std::string spec = "model: m\nproblems: p\n";
  spec += "#" + std::string(kMaxJobSpecBytes + 1 - spec.size() - 1, 'x');
  ASSERT_EQ(spec.size(), kMaxJobSpecBytes + 1);
  auto r = cluster_->Client()->Submit(spec, cluster_->dir());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_EQ(r.status().message(),
            absl::StrCat("job spec: ", kMaxJobSpecBytes + 1, " bytes, more than the limit of ", kMaxJobSpecBytes));
  // At the limit the spec is parsed (and refused for what it says).
  spec.pop_back();
  auto at = cluster_->Client()->Submit(spec, cluster_->dir());
  EXPECT_EQ(at.status().message().find("more than the limit"), std::string::npos) << at.status();
}

TEST_F(BadInputTest, AProblemFileOneProblemOverTheLimitIsInvalidArgumentNamingTheFile) {
  // The suite's job has 8 problems, the limit.
  const std::string problems = cluster_->WriteProblems(9, "nine.jsonl");
  auto r = cluster_->Client()->SubmitFile(cluster_->WriteSpec(SamplingSpec(problems), "nine.yaml"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_EQ(r.status().message(),
            absl::StrCat("problems: ", problems, " has more than 8 problems (the coordinator's limit)"));
}

TEST_F(BadInputTest, ASampleOneByteOverTheSampleLimitIsInvalidArgumentNamingTheSample) {
  auto c = cluster_->Client();
  const auto reg = Register();
  const v1::AcquireWorkResponse work = Acquire(reg.credentials());
  ASSERT_TRUE(work.has_shard()) << work.DebugString();
  const std::string problem = work.shard().tasks(0).problem().id();
  const grpc::Status s =
      AppendOne(c.get(), reg.credentials(), work.shard().lease(), problem, 0, std::string(65537, 'x'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("text of 65537 bytes is over the limit of 65536"), std::string::npos)
      << s.error_message();
  Deregister(reg.credentials());
}

TEST_F(BadInputTest, AFifthConcurrentStreamOnOneConnectionIsResourceExhaustedUntilOneCloses) {
  auto c = cluster_->Client();
  struct Watch {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReader<v1::Job>> reader;
  };
  auto open = [&]() {
    Watch w;
    w.ctx = CallContext(30000);
    v1::WatchJobRequest req;
    req.set_job_id(*job_);
    w.reader = c->jobs()->WatchJob(w.ctx.get(), req);
    return w;
  };
  std::vector<Watch> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(open());
    v1::Job first;
    ASSERT_TRUE(held.back().reader->Read(&first))
        << "watch " << i << ": " << held.back().reader->Finish().error_message();
  }
  Watch fifth = open();
  v1::Job job;
  EXPECT_FALSE(fifth.reader->Read(&job));
  const grpc::Status refused = fifth.reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_NE(refused.error_message().find("WatchJob: this connection already has 4 streams open"), std::string::npos)
      << refused.error_message();
  // Other calls on the same connection still go through.
  EXPECT_TRUE(c->GetJob(*job_).ok());
  // Once one closes, a new stream is accepted (the slot comes back when the
  // server side of the cancelled call is done).
  held[0].ctx->TryCancel();
  held[0].reader->Finish();
  bool accepted = false;
  for (int attempt = 0; attempt < 50 && !accepted; ++attempt) {
    Watch again = open();
    accepted = again.reader->Read(&job);
    again.ctx->TryCancel();
    again.reader->Finish();
    if (!accepted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(accepted);
  for (size_t i = 1; i < held.size(); ++i) {
    held[i].ctx->TryCancel();
    held[i].reader->Finish();
  }
}

TEST_F(BadInputTest, ACallWithoutATokenIsUnauthenticatedAndTheLogNeverShowsTokens) {
  auto creds = MakeChannelCredentials([&] {
    SecurityOptions s;
    s.ca_file = cluster_->certs() + "/ca.pem";
    s.token = "unused-but-required-token";
    return s;
  }());
  ASSERT_TRUE(creds.ok());
  auto stub = v1::JobService::NewStub(grpc::CreateChannel(cluster_->address(), *creds));
  v1::GetJobRequest req;
  req.set_job_id(*job_);
  v1::Job job;
  auto ctx = CallContext(5000);
  const grpc::Status s = stub->GetJob(ctx.get(), req, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("no bearer token"), std::string::npos);
  const std::string token = *ReadTokenFile(cluster_->certs() + "/token");
  EXPECT_EQ(cluster_->coordinator()->Log().find(token), std::string::npos);
  EXPECT_NE(cluster_->coordinator()->Log().find("unauthenticated call to /ssd.v1.JobService/GetJob"),
            std::string::npos);
}

TEST_F(BadInputTest, AWrongTokenIsUnauthenticated) {
  const std::string wrong = "not-the-cluster-token-at-all";
  auto r = cluster_->Client(wrong)->GetJob(*job_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find("wrong bearer token"), std::string::npos);
  EXPECT_EQ(cluster_->coordinator()->Log().find(wrong), std::string::npos);
}

TEST_F(BadInputTest, PlaintextAgainstTheTlsPortIsUnavailable) {
  auto stub = v1::JobService::NewStub(grpc::CreateChannel(cluster_->address(), grpc::InsecureChannelCredentials()));
  v1::GetJobRequest req;
  req.set_job_id(*job_);
  v1::Job job;
  auto ctx = CallContext(3000);
  EXPECT_EQ(stub->GetJob(ctx.get(), req, &job).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(BadInputTest, AForgedWorkerSessionIsPermissionDenied) {
  v1::WorkerCredentials forged;
  forged.set_worker_id("sampler-1");
  forged.set_session("guessed");
  v1::HeartbeatRequest hb;
  v1::HeartbeatResponse resp;
  auto ctx = CallContext(5000);
  AttachWorkerCredentials(forged, ctx.get());
  const grpc::Status s = cluster_->Client()->workers()->Heartbeat(ctx.get(), hb, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("session does not match worker sampler-1"), std::string::npos);
}

TEST_F(BadInputTest, AWorkerCallOrAppendWithoutCredentialsMetadataIsUnauthenticatedNamingTheKey) {
  v1::HeartbeatRequest hb;
  v1::HeartbeatResponse resp;
  auto ctx = CallContext(5000);
  const grpc::Status s = cluster_->Client()->workers()->Heartbeat(ctx.get(), hb, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_NE(s.error_message().find("no x-ssd-worker-id metadata"), std::string::npos) << s.error_message();
  // A stream says so before reading a message.
  grpc::ClientContext actx;
  actx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  actx.AddMetadata("x-ssd-worker-id", "sampler-1");
  v1::AppendResponse ack;
  auto w = cluster_->Client()->replay_store()->Append(&actx, &ack);
  w->WritesDone();
  const grpc::Status a = w->Finish();
  EXPECT_EQ(a.error_code(), grpc::StatusCode::UNAUTHENTICATED) << a.error_message();
  EXPECT_NE(a.error_message().find("no x-ssd-worker-session metadata"), std::string::npos) << a.error_message();
}

TEST_F(BadInputTest, ASubmitRetriedWithItsRequestIdMakesOneJobAndAnotherSpecUnderItIsAlreadyExists) {
  auto c = cluster_->Client();
  v1::SubmitJobRequest req;
  req.set_spec_yaml(SamplingSpec(cluster_->WriteProblems(2, "retry.jsonl"), "rounds: 1\n"));
  req.set_base_dir(cluster_->dir());
  req.set_request_id("cluster-test-retry-1");
  v1::SubmitJobResponse first, again;
  {
    auto ctx = CallContext(5000);
    const grpc::Status s = c->jobs()->SubmitJob(ctx.get(), req, &first);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {
    auto ctx = CallContext(5000);
    const grpc::Status s = c->jobs()->SubmitJob(ctx.get(), req, &again);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_FALSE(first.deduplicated());
  EXPECT_TRUE(again.deduplicated());
  EXPECT_EQ(again.job_id(), first.job_id());
  req.set_spec_yaml(req.spec_yaml() + "train:\n  lr: 2.0e-5\n");
  v1::SubmitJobResponse other;
  auto ctx = CallContext(5000);
  const grpc::Status s = c->jobs()->SubmitJob(ctx.get(), req, &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  EXPECT_NE(s.error_message().find("request_id cluster-test-retry-1 made job " + first.job_id()), std::string::npos)
      << s.error_message();
  EXPECT_TRUE(c->Cancel(first.job_id(), "test done").ok());
}

}  // namespace
}  // namespace ssd
