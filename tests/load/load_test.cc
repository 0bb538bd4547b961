// The control plane under load: N simulated samplers (tests/cluster/
// sim_worker.cc: the real RPCs over TLS with a bearer token, fake
// generation) against one `ssd coordinator` for a fixed time, while every
// few seconds a random sampler is SIGKILLed and replaced, and the
// coordinator itself is SIGKILLed and restarted on its data once, halfway.
// Jobs are submitted back to back for the whole run, then the test waits for
// the last one to finish sampling.
//
// What must hold: every shard of every job completes (the job reaches
// TRAINING and no lease is left), and every (problem, index) of every job is
// stored exactly once with the text the deterministic fake model gives it:
// no sample lost, duplicated or corrupted, whoever was killed when.
// It prints RPC latency percentiles by method (the coordinator's own
// histograms, summed over its two lives) and the coordinator's peak RSS.
//
// Size and length come from the environment, so the same test runs as the
// full 5-minute run (label `load`) and as a short smoke run in CI:
//   SSD_LOAD_SAMPLERS (200)  SSD_LOAD_SECONDS (300)  SSD_LOAD_KILL_EVERY_MS (3000)
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "tests/cluster/cluster_harness.h"
#include "tests/cluster/fake_model.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  int out = 0;
  return v != nullptr && absl::SimpleAtoi(v, &out) && out > 0 ? out : fallback;
}

// ssd_rpc_server_duration_seconds buckets by method: upper bound -> cumulative count.
using Histograms = std::map<std::string, std::map<double, double>>;

void AddHistograms(const std::string& metrics, Histograms* into) {
  static const std::regex kBucket(
      R"re(^ssd_rpc_server_duration_seconds_bucket\{method="([^"]+)",le="([^"]+)"\} ([0-9.eE+-]+)$)re");
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    std::cmatch m;
    if (!std::regex_match(line.begin(), line.end(), m, kBucket)) continue;
    const std::string le = m[2];
    const double bound = le == "+Inf" ? 1e300 : std::stod(le);
    (*into)[m[1]][bound] += std::stod(m[3]);
  }
}

// The q-quantile of a cumulative histogram, interpolated inside its bucket.
double Quantile(const std::map<double, double>& cumulative, double q) {
  const double total = cumulative.rbegin()->second;
  const double want = q * total;
  double lower = 0, below = 0;
  for (const auto& [bound, count] : cumulative) {
    if (count >= want) {
      if (bound >= 1e300) return lower;  // past the last finite bucket
      const double in_bucket = count - below;
      return in_bucket <= 0 ? bound : lower + (bound - lower) * (want - below) / in_bucket;
    }
    lower = bound;
    below = count;
  }
  return lower;
}

std::string SamplingSpec(const std::string& problems) {
  return absl::StrCat("name: load\nmodel: /models/sim\nproblems: ", problems,
                      "\nshard_size: 4\nsampling:\n  n: 4\n  seed: 7\n");
}

TEST(LoadTest, SamplersKilledAtRandomAndACoordinatorRestartLoseNoLeaseAndNoSampleAndDuplicateNothing) {
  const int samplers = EnvInt("SSD_LOAD_SAMPLERS", 200);
  const int seconds = EnvInt("SSD_LOAD_SECONDS", 300);
  const int kill_every_ms = EnvInt("SSD_LOAD_KILL_EVERY_MS", 3000);
  const int problems_per_job = 25 * samplers;  // ~100 samples per sampler per job
  const int n = 4;
  const std::vector<std::string> coordinator_args = {"--lease-ttl-ms",      "6000", "--heartbeat-interval-ms", "1000",
                                                     "--worker-timeout-ms", "8000", "--recovery-grace-ms",     "10000"};
  LocalCluster cluster;
  ASSERT_TRUE(cluster.StartCoordinator(coordinator_args)) << cluster.coordinator()->Log();
  auto client = cluster.Client();
  const std::string problems = cluster.WriteProblems(problems_per_job);
  const std::string spec = cluster.WriteSpec(SamplingSpec(problems));
  const std::vector<std::string> sampler_args = {"--sample-ms", "40", "--per-message", "8"};
  std::vector<BackgroundProcess*> live;
  for (int i = 0; i < samplers; ++i) live.push_back(cluster.StartWorker("sampler", sampler_args));

  std::mt19937 rng(20261202);
  std::vector<std::string> jobs;
  Histograms latency;
  int64_t peak_rss_kib = 0;
  int kills = 0;
  bool restarted = false;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed_s = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  auto last_kill = start;
  auto job_sampling = [&](const std::string& id) {
    auto j = client->GetJob(id);
    return !j.ok() || j->state() == v1::JOB_STATE_SAMPLING || j->state() == v1::JOB_STATE_PENDING;
  };
  // Load phase: keep two jobs sampling, kill a sampler every few seconds,
  // and the coordinator once at the middle.
  std::vector<std::string> sampling;  // jobs not yet seen past sampling
  while (elapsed_s() < seconds) {
    sampling.erase(
        std::remove_if(sampling.begin(), sampling.end(), [&](const std::string& id) { return !job_sampling(id); }),
        sampling.end());
    if (sampling.size() < 2) {
      auto job = client->SubmitFile(spec);
      if (job.ok()) {
        jobs.push_back(job->job_id());
        sampling.push_back(job->job_id());
      }
    }
    if (std::chrono::steady_clock::now() - last_kill > std::chrono::milliseconds(kill_every_ms)) {
      last_kill = std::chrono::steady_clock::now();
      const size_t victim = std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng);
      live[victim]->Signal(SIGKILL);
      ASSERT_NE(live[victim]->Wait(10), -1);
      live[victim] = cluster.StartWorker("sampler", sampler_args);
      ++kills;
    }
    if (!restarted && elapsed_s() > seconds / 2.0) {
      restarted = true;
      AddHistograms(cluster.HttpGet("/metrics"), &latency);
      peak_rss_kib = std::max(peak_rss_kib, ProcessStatusKib(cluster.coordinator()->pid(), "VmHWM"));
      cluster.KillCoordinator(SIGKILL);
      ASSERT_TRUE(cluster.StartCoordinator(coordinator_args)) << cluster.coordinator()->Log();
      client = cluster.Client();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(restarted);
  // Drain: every job finishes sampling (bounded).
  const bool drained = WaitUntil(
      [&] {
        for (const std::string& id : jobs) {
          if (job_sampling(id)) return false;
        }
        return true;
      },
      180);
  const double run_s = elapsed_s();
  AddHistograms(cluster.HttpGet("/metrics"), &latency);
  const std::string metrics = cluster.HttpGet("/metrics");
  peak_rss_kib = std::max(peak_rss_kib, ProcessStatusKib(cluster.coordinator()->pid(), "VmHWM"));
  if (!drained) {
    for (const std::string& id : jobs) {
      if (!job_sampling(id)) continue;
      auto j = client->GetJob(id);
      std::printf("still sampling: %s\n",
                  j.ok() ? j->ShortDebugString().substr(0, 1500).c_str() : j.status().ToString().c_str());
    }
    const bool up = cluster.coordinator()->running();
    std::printf("coordinator running: %d (wait status %d)\n", up ? 1 : 0, up ? 0 : cluster.coordinator()->Wait(0));
    const std::string log = cluster.coordinator()->Log();
    std::printf("coordinator log tail:\n%s\n", log.substr(log.size() > 6000 ? log.size() - 6000 : 0).c_str());
    const std::string wlog = live[0]->Log();
    std::printf("a sampler's log tail:\n%s\n", wlog.substr(wlog.size() > 3000 ? wlog.size() - 3000 : 0).c_str());
  }
  ASSERT_TRUE(drained) << "jobs still sampling after the drain";
  ASSERT_GE(jobs.size(), 2u);

  // Every job: sampling done and exactly the fake model's samples, once each.
  int64_t checked = 0;
  for (const std::string& id : jobs) {
    auto j = client->GetJob(id);
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_EQ(j->state(), v1::JOB_STATE_TRAINING) << id << ": " << j->error();
    std::map<std::pair<std::string, int64_t>, int> seen;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    v1::ScanRequest req;
    req.set_job_id(id);
    req.set_round(1);
    req.set_batch_size(4096);
    auto reader = client->replay_store()->Scan(&ctx, req);
    v1::ScanResponse page;
    int64_t wrong_text = 0;
    while (reader->Read(&page)) {
      for (const auto& s : page.samples()) {
        const v1::Sample& x = s.sample();
        ++seen[{x.problem_id(), x.sample_index()}];
        wrong_text += x.text() != FakeText(id, 1, x.problem_id(), x.sample_index(), 0) ? 1 : 0;
      }
    }
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(wrong_text, 0) << id;
    EXPECT_EQ(seen.size(), static_cast<size_t>(problems_per_job) * n) << id << ": samples lost";
    int64_t duplicated = 0;
    for (const auto& [key, times] : seen) duplicated += times > 1 ? 1 : 0;
    EXPECT_EQ(duplicated, 0) << id;
    checked += static_cast<int64_t>(seen.size());
  }
  // No lease left behind.
  int leased_lines = 0;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, "ssd_shards_leased{")) continue;
    ++leased_lines;
    EXPECT_TRUE(absl::EndsWith(line, "} 0")) << line;
  }
  EXPECT_GT(leased_lines, 0) << metrics.substr(0, 3000);

  if (HasFailure()) {
    // Keep the logs of every process for the post-mortem.
    const std::string keep = ScopedTempDir("ssd_load_failure").Release();
    std::system(absl::StrCat("cp -r ", cluster.dir(), "/. ", keep, "/ && rm -rf ", keep, "/data").c_str());
    std::printf("load: logs kept in %s\n", keep.c_str());
  }
  std::printf("\nload: %d samplers, %.0f s, %d sampler SIGKILLs, 1 coordinator SIGKILL + restart\n", samplers, run_s,
              kills);
  std::printf("load: %zu jobs, %lld samples checked exactly once against the fake model\n", jobs.size(),
              static_cast<long long>(checked));
  std::printf("load: coordinator peak RSS %.1f MiB (VmHWM, the larger of its two lives)\n", peak_rss_kib / 1024.0);
  std::printf("\n%-40s %10s %10s %10s\n", "method", "calls", "p50 ms", "p99 ms");
  for (const auto& [method, cumulative] : latency) {
    const double calls = cumulative.rbegin()->second;
    if (calls == 0) continue;
    std::printf("%-40s %10.0f %10.2f %10.2f\n", method.c_str(), calls, 1000 * Quantile(cumulative, 0.50),
                1000 * Quantile(cumulative, 0.99));
  }
  std::fflush(stdout);
}

}  // namespace
}  // namespace ssd
