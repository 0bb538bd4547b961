#include "coordinator/client/local_cluster.h"

#include <glog/logging.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/rpc/dev_certs.h"
#include "common/rpc/security.h"
#include "common/util/file_util.h"
#include "common/util/omp_wait_policy.h"
#include "common/util/ports.h"
#include "common/util/process_group.h"
#include "common/util/status_macros.h"
#include "coordinator/client/api_json.h"
#include "coordinator/client/cluster_client.h"
#include "coordinator/client/job_view.h"
#include "coordinator/client/watch.h"
#include "coordinator/job_spec.h"
#include "coordinator/job_state.h"
#include "coordinator/problem_set.h"

namespace ssd {
namespace {

struct Child {
  std::string name;
  std::string log;
  std::unique_ptr<ProcessGroup> group;
};

absl::StatusOr<Child> Spawn(const std::string& name, const std::vector<std::string>& argv, const std::string& log,
                            int threads) {
  SpawnOptions o;
  o.argv = argv;
  o.log_path = log;
  // The children share the cores (common/util/omp_wait_policy.h).
  o.env = SharedCoresEnvironment();
  o.env.emplace_back("OMP_NUM_THREADS", std::to_string(threads));
  Child c;
  c.name = name;
  c.log = log;
  ASSIGN_OR_RETURN(c.group, ProcessGroup::Spawn(o));
  return c;
}

void StopAll(std::vector<Child>& children, absl::Duration grace) {
  std::vector<ProcessGroup*> groups;
  for (Child& c : children) groups.push_back(c.group.get());
  // A second Ctrl-C while the children stop must not leave them orphaned.
  struct sigaction ignore = {}, old = {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGINT, &ignore, &old);
  StopProcessGroups(groups, grace);
  children.clear();
  sigaction(SIGINT, &old, nullptr);
}

// The spec and its problem files as the coordinator will read them, and
// the trainers it needs: a local cluster is fixed, so a job asking for more
// trainers than it starts would wait in TRAINING for ever.
absl::Status CheckSpecFitsTheCluster(const LocalClusterOptions& o) {
  auto yaml = ReadFileToString(o.spec_path, kMaxJobSpecBytes);
  if (!yaml.ok()) return absl::InvalidArgumentError(absl::StrCat(o.spec_path, ": ", yaml.status().message()));
  JobSpecParseOptions parse;
  parse.base_dir = ContainingDir(o.spec_path);
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(*yaml, parse);
  if (!spec.ok()) return absl::InvalidArgumentError(absl::StrCat(o.spec_path, ": ", spec.status().message()));
  const int32_t want = spec->train().trainers();
  if (want > o.trainers) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.spec_path, ": train.trainers is ", want, " but this local cluster starts --trainers ",
                     o.trainers, ", so the job would wait for trainers that never come; run ssd local with --trainers ",
                     want, ", or set train.trainers: ", o.trainers, " in the spec"));
  }
  // The problem files, as the coordinator will read them at submit time.
  auto in_spec = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(o.spec_path, ": ", s.message()));
  };
  absl::StatusOr<PromptTemplates> templates = TemplatesFor(*spec);
  if (!templates.ok()) return in_spec(templates.status());
  if (!spec->problems().empty()) {
    if (auto p = LoadTrainProblems(spec->problems(), *templates); !p.ok()) return in_spec(p.status());
  }
  if (spec->has_eval()) {
    if (auto p = LoadEvalProblems(spec->eval(), *templates); !p.ok()) return in_spec(p.status());
  }
  return absl::OkStatus();
}

// How to look at a stopped local cluster's jobs again.
std::string ReopenHint(const std::string& dir, const std::string& certs, const std::string& job_id) {
  return absl::StrCat("to look at it or export from it, open its coordinator alone:\n  ssd coordinator --data-dir ",
                      JoinPath(dir, "coordinator"), " --certs ", certs, " --listen 127.0.0.1:7070\n  ssd status ",
                      job_id, " --certs ", certs, "\n");
}

}  // namespace

absl::Status LocalClusterOptions::Validate() const {
  if (spec_path.empty()) return absl::InvalidArgumentError("the job spec file is required");
  if (samplers < 1 || samplers > 64) return absl::InvalidArgumentError("--samplers: must be in [1, 64]");
  if (trainers < 1 || trainers > 64) return absl::InvalidArgumentError("--trainers: must be in [1, 64]");
  if (threads_per_process < 0) return absl::InvalidArgumentError("--threads-per-process: must be >= 0");
  if (port < 0 || port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("--port: must be in [0, 65535], got ", port));
  return absl::OkStatus();
}

absl::StatusOr<int> RunLocalCluster(const LocalClusterOptions& o, std::ostream& out) {
  RETURN_IF_ERROR(o.Validate());
  if (!PathExists(o.spec_path)) return absl::InvalidArgumentError(absl::StrCat(o.spec_path, ": no such job spec"));
  RETURN_IF_ERROR(CheckSpecFitsTheCluster(o));
  std::string dir = o.data_dir;
  if (dir.empty()) {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/ssd-local.XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
    dir = tmpl;
  }
  dir = AbsolutePath(dir);
  RETURN_IF_ERROR(MakeDirs(JoinPath(dir, "logs")));
  const std::string certs = JoinPath(dir, "certs");
  if (!PathExists(JoinPath(certs, "token"))) {
    DevCertsOptions c;
    c.out_dir = certs;
    RETURN_IF_ERROR(MakeDevCerts(c));
  }
  const std::string exe = o.ssd_binary.empty() ? SelfExecutable() : o.ssd_binary;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads =
      o.threads_per_process > 0 ? o.threads_per_process : std::max(1, cores / (o.samplers + o.trainers));
  out << "ssd local: " << o.samplers << " sampler(s), " << o.trainers << " trainer(s), " << threads
      << " thread(s) each; state and logs in " << dir << std::endl;

  std::vector<Child> children;
  struct Cleanup {
    std::vector<Child>* c;
    ~Cleanup() { StopAll(*c, absl::Seconds(10)); }
  } cleanup{&children};

  const std::string port_file = JoinPath(dir, "coordinator.port");
  std::remove(port_file.c_str());
  int listen_port = o.port;
  if (listen_port != 0 && !PortIsFree(listen_port)) {
    out << "ssd local: port " << listen_port << " is in use; the coordinator takes a free port instead" << std::endl;
    listen_port = 0;
  }
  ASSIGN_OR_RETURN(Child coord, Spawn("coordinator",
                                      {exe, "coordinator", "--listen", absl::StrCat("127.0.0.1:", listen_port),
                                       "--data-dir", JoinPath(dir, "coordinator"), "--certs", certs, "--port-file",
                                       port_file, "--heartbeat-interval-ms", "1000", "--lease-ttl-ms", "10000",
                                       "--worker-timeout-ms", "10000", "--recovery-grace-ms", "20000"},
                                      JoinPath(dir, "logs/coordinator.log"), 1));
  children.push_back(std::move(coord));
  int port = 0;
  for (int i = 0; i < 300 && port == 0; ++i) {
    auto text = ReadFileToString(port_file);
    if (text.ok()) (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &port);
    if (port == 0) {
      if (children[0].group->Poll()) {
        return absl::InternalError(absl::StrCat("the coordinator did not start:\n", TailOfLog(children[0].log, 10)));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (port == 0) return absl::DeadlineExceededError("the coordinator did not come up within 30 s");
  const std::string address = absl::StrCat("127.0.0.1:", port);
  for (int i = 0; i < o.samplers; ++i) {
    std::vector<std::string> argv = {
        exe,        "sampler",     "--coordinator", address,
        "--listen", "127.0.0.1:0", "--work-dir",    JoinPath(dir, absl::StrCat("sampler-", i)),
        "--certs",  certs,         "--threads",     std::to_string(threads)};
    if (o.unsafe_sandbox) argv.push_back("--unsafe-sandbox");
    for (const std::string& a : o.sampler_args) argv.push_back(a);
    ASSIGN_OR_RETURN(Child c, Spawn(absl::StrCat("sampler-", i), argv,
                                    JoinPath(dir, absl::StrCat("logs/sampler-", i, ".log")), threads));
    children.push_back(std::move(c));
  }
  for (int i = 0; i < o.trainers; ++i) {
    std::vector<std::string> argv = {exe,
                                     "trainer",
                                     "--coordinator",
                                     address,
                                     "--work-dir",
                                     JoinPath(dir, absl::StrCat("trainer-", i)),
                                     "--certs",
                                     certs,
                                     "--threads",
                                     std::to_string(threads)};
    for (const std::string& a : o.trainer_args) argv.push_back(a);
    ASSIGN_OR_RETURN(Child c, Spawn(absl::StrCat("trainer-", i), argv,
                                    JoinPath(dir, absl::StrCat("logs/trainer-", i, ".log")), threads));
    children.push_back(std::move(c));
  }

  ClusterClientOptions co;
  co.channel.target = address;
  co.channel.security.ca_file = JoinPath(certs, "ca.pem");
  ASSIGN_OR_RETURN(co.channel.security.token, ReadTokenFile(JoinPath(certs, "token")));
  ASSIGN_OR_RETURN(std::unique_ptr<ClusterClient> client, ClusterClient::Connect(co));
  ASSIGN_OR_RETURN(v1::SubmitJobResponse submitted, client->SubmitFile(o.spec_path));
  out << "job " << submitted.job_id() << " submitted" << std::endl;

  // A child that dies stops the watch (and then the cluster).
  std::atomic<bool> child_died{false};
  std::atomic<bool> watching{true};
  const Child* died = nullptr;
  std::thread monitor([&] {
    while (watching.load()) {
      for (const Child& c : children) {
        if (c.group->Poll()) {
          died = &c;
          child_died.store(true);
          return;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  WatchOptions w;
  w.json = o.json;
  w.tty = isatty(STDOUT_FILENO) != 0;
  w.stop = &child_died;
  w.announce_detach = false;  // the cluster stops with this process: said below
  auto code = FollowJob(client.get(), submitted.job_id(), w, out);
  watching.store(false);
  monitor.join();
  if (code.ok() && *code == kExitDetached && !child_died.load()) {
    // Ctrl-C: the job cannot go on without the cluster.
    ClusterClientOptions quick = co;
    quick.call_timeout_ms = 2000;
    std::string where;
    if (auto c = ClusterClient::Connect(quick); c.ok()) {
      if (auto job = (*c)->GetJob(submitted.job_id()); job.ok()) {
        where =
            absl::StrCat(" in ", JobStateName(job->state()), ", round ", job->round(), " of ", job->spec().rounds());
      }
    }
    StopAll(children, absl::Seconds(10));
    out << "\ninterrupted: the local cluster is stopped, and job " << submitted.job_id() << " with it" << where
        << "; it does not go on.\nits state and logs are in " << dir << "\n"
        << ReopenHint(dir, certs, submitted.job_id()) << std::flush;
    return *code;
  }
  if (child_died.load() && died != nullptr) {
    return absl::InternalError(absl::StrCat(died->name, " ", died->group->DescribeExit(), "; its log ends:\n",
                                            TailOfLog(died->log, 15), "the cluster was stopped; ",
                                            "state and logs are in ", dir));
  }
  if (!code.ok()) return code.status();
  auto job = client->GetJob(submitted.job_id());
  if (job.ok()) {
    const std::string report = JoinPath(dir, "report.json");
    (void)WriteFileAtomically(report, ToJson(*job) + "\n");
    for (const v1::RoundStatus& r : job->rounds()) {
      if (!r.model_path().empty()) out << "round " << r.round() << " model: " << r.model_path() << "\n";
    }
    out << "report: " << report << "\n" << ReopenHint(dir, certs, submitted.job_id()) << std::flush;
  }
  return *code;
}

}  // namespace ssd
