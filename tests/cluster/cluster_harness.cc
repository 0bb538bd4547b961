#include "tests/cluster/cluster_harness.h"

#include <grpcpp/grpcpp.h>

#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/rpc/security.h"
#include "common/util/file_util.h"

namespace ssd {

std::string SimWorkerBinary() {
  if (const char* b = std::getenv("SSD_BUILD_DIR"); b != nullptr) return absl::StrCat(b, "/tests/ssd_sim_worker");
  // Beside this binary (build/tests/) or in ../tests (build/bin/ for benches).
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    const std::string path(self, static_cast<size_t>(n));
    const std::string dir = path.substr(0, path.rfind('/'));
    for (const std::string& c : {dir + "/ssd_sim_worker", dir + "/../tests/ssd_sim_worker"}) {
      if (access(c.c_str(), X_OK) == 0) return c;
    }
  }
  return "build/tests/ssd_sim_worker";
}

LocalCluster::LocalCluster() {
  certs_ = dir_ + "/certs";
  RunProcess({SsdBinary(), "certs", "init", "--out", certs_}, 60);
}

LocalCluster::~LocalCluster() {
  workers_.clear();
  coordinator_.reset();
}

bool LocalCluster::StartCoordinator(const std::vector<std::string>& extra_args) {
  const std::string port_file = absl::StrCat(dir_, "/port.", ++starts_);
  std::vector<std::string> argv = {SsdBinary(),      "coordinator", "--listen",       absl::StrCat("127.0.0.1:", port_),
                                   "--data-dir",     data_dir(),    "--certs",        certs_,
                                   "--port-file",    port_file,     "--metrics-port", "0",
                                   "--metrics-host", "127.0.0.1"};
  for (const std::string& a : extra_args) argv.push_back(a);
  coordinator_ = std::make_unique<BackgroundProcess>(argv, absl::StrCat(dir_, "/coordinator.", starts_, ".log"));
  if (!WaitUntil([&] { return PathExists(port_file) || !coordinator_->running(); }, 30)) return false;
  auto text = ReadFileToString(port_file);
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &port_)) return false;
  const std::string log = coordinator_->Log();
  // The coordinator announces its metrics port before it writes the port file.
  const size_t at = log.find("/metrics on port ");
  if (at == std::string::npos) return false;
  metrics_port_ = std::atoi(log.c_str() + at + strlen("/metrics on port "));
  return metrics_port_ > 0;
}

void LocalCluster::KillCoordinator(int sig) {
  if (coordinator_ == nullptr) return;
  coordinator_->Signal(sig);
  coordinator_->Wait(30);
}

BackgroundProcess* LocalCluster::StartWorker(const std::string& role, const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {SimWorkerBinary(), "--coordinator", address(), "--certs", certs_, "--role", role};
  for (const std::string& a : extra_args) argv.push_back(a);
  workers_.push_back(std::make_unique<BackgroundProcess>(argv, absl::StrCat(dir_, "/", role, workers_.size(), ".log")));
  return workers_.back().get();
}

BackgroundProcess* LocalCluster::StartSampler(const std::vector<std::string>& extra_args) {
  const std::string name = absl::StrCat("sampler", workers_.size());
  std::vector<std::string> argv = {SsdBinary(),      "sampler",     "--coordinator",  address(),
                                   "--listen",       "127.0.0.1:0", "--work-dir",     dir_ + "/" + name,
                                   "--certs",        certs_,        "--threads",      "1",
                                   "--metrics-port", "0",           "--metrics-host", "127.0.0.1"};
  for (const std::string& a : extra_args) argv.push_back(a);
  workers_.push_back(std::make_unique<BackgroundProcess>(argv, absl::StrCat(dir_, "/", name, ".log"),
                                                         std::vector<std::string>{"OMP_WAIT_POLICY=PASSIVE"}));
  return workers_.back().get();
}

BackgroundProcess* LocalCluster::StartTrainer(const std::vector<std::string>& extra_args) {
  const std::string name = absl::StrCat("trainer", workers_.size());
  std::vector<std::string> argv = {SsdBinary(),       "trainer", "--coordinator", address(),   "--work-dir",
                                   dir_ + "/" + name, "--certs", certs_,          "--threads", "1"};
  for (const std::string& a : extra_args) argv.push_back(a);
  workers_.push_back(std::make_unique<BackgroundProcess>(argv, absl::StrCat(dir_, "/", name, ".log"),
                                                         std::vector<std::string>{"OMP_WAIT_POLICY=PASSIVE"}));
  return workers_.back().get();
}

std::unique_ptr<ClusterClient> LocalCluster::Client(const std::string& token_override) const {
  ClusterClientOptions o;
  o.channel.target = address();
  o.channel.security.ca_file = certs_ + "/ca.pem";
  o.channel.security.token = token_override.empty() ? *ReadTokenFile(certs_ + "/token") : token_override;
  o.call_timeout_ms = 15000;
  auto c = ClusterClient::Connect(o);
  return c.ok() ? std::move(*c) : nullptr;
}

ProcessResult LocalCluster::Ssd(const std::vector<std::string>& args, int timeout_s) const {
  std::vector<std::string> argv = {SsdBinary()};
  for (const std::string& a : args) argv.push_back(a);
  argv.insert(argv.end(), {"--coordinator", address(), "--certs", certs_});
  return RunProcess(argv, timeout_s);
}

std::string LocalCluster::WriteProblems(int n, const std::string& name) const {
  std::string text;
  for (int i = 0; i < n; ++i) absl::StrAppend(&text, "{\"id\": \"p", i, "\", \"prompt\": \"def f", i, "(x):\"}\n");
  const std::string path = dir_ + "/" + name;
  WriteFileAtomically(path, text).IgnoreError();
  return path;
}

std::string LocalCluster::WriteSpec(const std::string& yaml, const std::string& name) const {
  const std::string path = dir_ + "/" + name;
  WriteFileAtomically(path, yaml).IgnoreError();
  return path;
}

std::string LocalCluster::HttpGet(const std::string& path) const {
  if (metrics_port_ <= 0) return "";
  httplib::Client c("127.0.0.1", metrics_port_);
  auto r = c.Get(path.c_str());
  return r ? absl::StrCat(r->status, "\n", r->body) : "";
}

ScannedSamples ScanRound(ClusterClient* client, const std::string& job, int round, bool survivors,
                         std::vector<std::string>* duplicates, std::string* error) {
  ScannedSamples out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ScanRequest req;
  req.set_job_id(job);
  req.set_round(round);
  req.set_survivors_only(survivors);
  auto reader = client->replay_store()->Scan(&ctx, req);
  v1::ScanResponse page;
  while (reader->Read(&page)) {
    for (const v1::ScannedSample& s : page.samples()) {
      const auto key = std::make_pair(s.sample().problem_id(), s.sample().sample_index());
      if (!out.emplace(key, s).second) duplicates->push_back(absl::StrCat(key.first, "#", key.second));
    }
  }
  const grpc::Status st = reader->Finish();
  if (!st.ok()) *error = st.error_message();
  return out;
}

}  // namespace ssd
