#include "trainer_worker/launcher.h"

#include <glog/logging.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"

namespace ssd {
namespace {

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("was killed by signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")");
  return "stopped";
}

bool Failed(int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }

}  // namespace

absl::Status LaunchOptions::Validate() const {
  if (nproc < 1 || nproc > 256) return absl::InvalidArgumentError(absl::StrCat("nproc: ", nproc, " is not in [1, 256]"));
  if (master_port < 1 || master_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("master_port: ", master_port, " is not a TCP port"));
  }
  if (binary.empty()) return absl::InvalidArgumentError("binary: must not be empty");
  return absl::OkStatus();
}

std::vector<std::string> RankArgv(const LaunchOptions& o, int rank) {
  std::vector<std::string> argv{o.binary};
  argv.insert(argv.end(), o.args.begin(), o.args.end());
  for (std::string s : {std::string("--rank"), std::to_string(rank), std::string("--world-size"),
                        std::to_string(o.nproc), std::string("--master-addr"), o.master_addr,
                        std::string("--master-port"), std::to_string(o.master_port),
                        std::string("--store-owner"), std::string("external")}) {
    argv.push_back(std::move(s));
  }
  return argv;
}

absl::Status LaunchLocalRanks(const LaunchOptions& o) {
  if (auto s = o.Validate(); !s.ok()) return s;
  const pid_t launcher = getpid();
  std::vector<pid_t> pids;
  for (int r = 0; r < o.nproc; ++r) {
    std::vector<std::string> argv = RankArgv(o, r);
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
      for (pid_t p : pids) kill(-p, SIGKILL);
      return absl::InternalError(absl::StrCat("fork for rank ", r, " failed: ", std::strerror(errno)));
    }
    if (pid == 0) {
      // Each rank leads its own process group, so stopping it also stops
      // whatever it started.
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != launcher) _exit(127);  // the launcher died before prctl
      execv(cargv[0], cargv.data());
      std::fprintf(stderr, "ssd train: exec %s for rank %d failed: %s\n", cargv[0], r, std::strerror(errno));
      _exit(127);
    }
    setpgid(pid, pid);  // also here, so the group exists before any kill
    pids.push_back(pid);
  }
  LOG(INFO) << "launched " << o.nproc << " ranks, rendezvous at " << o.master_addr << ":" << o.master_port;

  std::vector<bool> done(pids.size(), false);
  int remaining = o.nproc;
  absl::Status first_failure;
  std::chrono::steady_clock::time_point kill_at;
  bool killed = false;
  while (remaining > 0) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("waitpid failed: ", std::strerror(errno)));
    }
    if (pid <= 0) {
      // Escalate if a rank ignores SIGTERM (stuck in a collective). Only
      // unreaped children are signalled, so no recycled pid is hit.
      if (!first_failure.ok() && !killed && std::chrono::steady_clock::now() >= kill_at) {
        for (size_t k = 0; k < pids.size(); ++k) {
          if (!done[k]) kill(-pids[k], SIGKILL);
        }
        killed = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    size_t r = 0;
    while (r < pids.size() && pids[r] != pid) ++r;
    if (r == pids.size()) continue;  // not one of ours
    done[r] = true;
    --remaining;
    if (Failed(status) && first_failure.ok()) {
      first_failure = absl::AbortedError(absl::StrCat("rank ", r, " of ", o.nproc, " (pid ", pid, ") ",
                                                      DescribeExit(status), "; stopped the other ranks"));
      LOG(ERROR) << first_failure.message();
      for (size_t k = 0; k < pids.size(); ++k) {
        if (!done[k]) kill(-pids[k], SIGTERM);
      }
      kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(o.grace_s);
    }
  }
  return first_failure;
}

}  // namespace ssd
