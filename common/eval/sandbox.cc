#include "common/eval/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

// Processes the sandbox machinery adds to a run: the init process of the
// PID namespace (inside the sandbox's user namespace), and bwrap's monitor
// (outside it, under the uid that runs bwrap).
constexpr int kInitProcesses = 1;
constexpr int kMonitorProcesses = 1;

// Tasks (threads included: the kernel counts each against RLIMIT_NPROC) of
// a uid, as /proc shows them; processes in other PID namespaces are not
// seen.
struct UidTasks {
  int live = 0;
  int zombies = 0;
};

// The tasks owned by `uid`; live processes get SIGKILL when `kill_live`.
UidTasks ScanUid(uid_t uid, bool kill_live = false) {
  UidTasks n;
  DIR* d = opendir("/proc");
  if (d == nullptr) return n;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const std::string dir = absl::StrCat("/proc/", e->d_name);
    struct stat st;
    if (stat(dir.c_str(), &st) != 0 || st.st_uid != uid) continue;
    // After the parenthesized command name: the state (field 3), then
    // fields 4 to 19, then num_threads (field 20).
    char buf[1024];
    const int fd = open((dir + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
    const ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) close(fd);
    if (len <= 0) continue;
    buf[len] = '\0';
    const char* paren = strrchr(buf, ')');
    if (paren == nullptr || paren[1] != ' ') continue;
    if (paren[2] == 'Z') {
      ++n.zombies;
      continue;
    }
    const char* field = paren + 2;
    for (int i = 3; i < 20 && field != nullptr; ++i) {
      field = strchr(field, ' ');
      if (field != nullptr) ++field;
    }
    const int threads = field != nullptr ? std::atoi(field) : 0;
    n.live += std::max(threads, 1);
    if (kill_live) kill(static_cast<pid_t>(std::atoi(e->d_name)), SIGKILL);
  }
  closedir(d);
  return n;
}

// Since Linux 5.14, when RLIMIT_NPROC moved onto the per-namespace ucounts,
// it counts the tasks of a uid in one user namespace; before, every task of
// the host uid.
bool KernelCountsNprocPerUserNamespace() {
  utsname u;
  int major = 0, minor = 0;
  if (uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 5 || (major == 5 && minor >= 14);
}

// The slot's uid belongs to the sandbox alone, so whatever still runs under
// it after a run is a leftover of that run: finish it off before the slot is
// reused.
void KillLeftovers(uid_t uid) {
  for (int i = 0; i < 200 && ScanUid(uid, /*kill_live=*/true).live > 0; ++i) usleep(5000);
}

ProcessSpec SpecFor(const SandboxCommand& c) {
  ProcessSpec s;
  s.env = c.env;
  s.stdin_data = c.stdin_data;
  s.wall_timeout_s = c.limits.wall_s;
  s.max_output_bytes = c.limits.max_output_bytes;
  s.limits.cpu_s = c.limits.cpu_s;
  s.limits.address_space_bytes = c.limits.address_space_bytes;
  s.limits.max_processes = c.limits.max_processes;
  s.limits.file_size_bytes = c.limits.file_size_bytes;
  s.limits.open_files = 1024;
  return s;
}

}  // namespace

absl::Status SandboxLimits::Validate() const {
  if (!(wall_s > 0)) return absl::InvalidArgumentError("SandboxLimits.wall_s: must be positive");
  if (cpu_s <= 0) return absl::InvalidArgumentError("SandboxLimits.cpu_s: must be positive");
  if (address_space_bytes < (int64_t{64} << 20)) {
    return absl::InvalidArgumentError("SandboxLimits.address_space_bytes: must be at least 64 MiB");
  }
  if (max_processes < 1) return absl::InvalidArgumentError("SandboxLimits.max_processes: must be at least 1");
  if (file_size_bytes <= 0) return absl::InvalidArgumentError("SandboxLimits.file_size_bytes: must be positive");
  if (tmpfs_bytes <= 0) return absl::InvalidArgumentError("SandboxLimits.tmpfs_bytes: must be positive");
  if (max_output_bytes == 0) return absl::InvalidArgumentError("SandboxLimits.max_output_bytes: must be positive");
  return absl::OkStatus();
}

absl::Status BwrapSandboxOptions::Validate() const {
  if (bwrap_path.empty() || bwrap_path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("bwrap_path: \"", bwrap_path, "\" must be an absolute path"));
  }
  if (prlimit_path.empty() || prlimit_path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("prlimit_path: \"", prlimit_path, "\" must be an absolute path"));
  }
  if (max_parallel < 1) return absl::InvalidArgumentError("max_parallel: must be at least 1");
  if (uid_range < max_parallel) return absl::InvalidArgumentError("uid_range: must be at least max_parallel");
  if (uid_base < 1000 || uid_base + uid_range > 65534) {
    return absl::InvalidArgumentError(absl::StrCat("uid_base: ", uid_base, " + uid_range must lie in [1000, 65534)"));
  }
  if (uid_lock_dir.empty() || uid_lock_dir[0] != '/') {
    return absl::InvalidArgumentError("uid_lock_dir: must be an absolute path");
  }
  for (const std::string& p : read_only_paths) {
    if (p.empty() || p[0] != '/' || absl::StrContains(p, "..")) {
      return absl::InvalidArgumentError(absl::StrCat("read_only_paths: \"", p, "\" must be an absolute path"));
    }
    if (p == "/") return absl::InvalidArgumentError("read_only_paths: \"/\" would expose every host file");
  }
  return absl::OkStatus();
}

BwrapSandbox::BwrapSandbox(BwrapSandboxOptions options)
    : options_(std::move(options)),
      is_root_(geteuid() == 0),
      nproc_per_user_namespace_(KernelCountsNprocPerUserNamespace()),
      slot_busy_(options_.max_parallel, false) {}

absl::StatusOr<std::unique_ptr<BwrapSandbox>> BwrapSandbox::Create(const BwrapSandboxOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  if (access(options.bwrap_path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the sandbox needs bubblewrap, but ", options.bwrap_path,
        " is missing (install the Debian package bubblewrap, or pass --unsafe-no-sandbox to run trusted code "
        "without isolation)"));
  }
  if (access(options.prlimit_path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("the sandbox sets its process limit with prlimit, but ",
                                                      options.prlimit_path,
                                                      " is missing (install the Debian package util-linux)"));
  }
  std::unique_ptr<BwrapSandbox> sb(new BwrapSandbox(options));
  if (sb->is_root_) RETURN_IF_ERROR(sb->ClaimUids());
  SandboxCommand probe;
  probe.argv = {"/usr/bin/true"};
  probe.limits.wall_s = 30;
  ASSIGN_OR_RETURN(ProcessRunResult r, sb->Run(probe));
  if (r.wall_timeout || r.signal != 0 || r.exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "bubblewrap cannot create its sandbox here (exit ", r.exit_code, ", signal ", r.signal,
        "): ", r.err.substr(0, 500),
        " -- it needs user namespaces (sysctl user.max_user_namespaces > 0). Refusing to run untrusted code; "
        "pass --unsafe-no-sandbox only for code you trust"));
  }
  return sb;
}

std::vector<std::string> BwrapSandbox::BwrapArgv(const SandboxCommand& c, int64_t nproc_in_sandbox) const {
  std::vector<std::string> a = {options_.bwrap_path,
                                "--unshare-all",     // user, pid, net, ipc, uts, cgroup
                                "--unshare-user",    // required, not just tried
                                "--disable-userns",  // no nested namespaces to climb out of
                                "--die-with-parent",
                                "--new-session",  // no TIOCSTI into our terminal
                                "--cap-drop",        "ALL",     "--uid",     "65534", "--gid", "65534",
                                "--hostname",        "sandbox", "--clearenv"};
  for (const char* link : {"/bin", "/lib", "/lib32", "/lib64", "/libx32", "/sbin"}) {
    char target[4096];
    const ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n > 0) {
      a.insert(a.end(), {"--symlink", std::string(target, static_cast<size_t>(n)), link});
    } else if (access(link, F_OK) == 0) {
      a.insert(a.end(), {"--ro-bind", link, link});
    }
  }
  for (const std::string& p : options_.read_only_paths) {
    if (access(p.c_str(), F_OK) == 0) a.insert(a.end(), {"--ro-bind", p, p});
  }
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--size", absl::StrCat(c.limits.tmpfs_bytes), "--tmpfs",
                     "/tmp", "--chdir", "/tmp"});
  for (const std::string& kv : c.env) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    a.insert(a.end(), {"--setenv", kv.substr(0, eq), kv.substr(eq + 1)});
  }
  a.push_back("--");
  const std::string nproc = absl::StrCat(nproc_in_sandbox);
  a.insert(a.end(), {options_.prlimit_path, absl::StrCat("--nproc=", nproc, ":", nproc), "--"});
  a.insert(a.end(), c.argv.begin(), c.argv.end());
  return a;
}

BwrapSandbox::~BwrapSandbox() {
  for (int fd : lock_fds_) close(fd);  // releases the flocks
}

absl::Status BwrapSandbox::ClaimUids() {
  if (mkdir(options_.uid_lock_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox: cannot create ", options_.uid_lock_dir, ": ", strerror(errno)));
  }
  for (int uid = options_.uid_base;
       uid < options_.uid_base + options_.uid_range && static_cast<int>(slot_uids_.size()) < options_.max_parallel;
       ++uid) {
    const std::string path = absl::StrCat(options_.uid_lock_dir, "/", uid, ".lock");
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) continue;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      close(fd);
      continue;
    }
    lock_fds_.push_back(fd);
    slot_uids_.push_back(static_cast<uid_t>(uid));
  }
  if (static_cast<int>(slot_uids_.size()) < options_.max_parallel) {
    return absl::ResourceExhaustedError(
        absl::StrCat("sandbox: only ", slot_uids_.size(), " of ", options_.max_parallel, " sandbox uids in [",
                     options_.uid_base, ", ", options_.uid_base + options_.uid_range,
                     ") are free; other ssd processes hold the rest (see ", options_.uid_lock_dir, ")"));
  }
  return absl::OkStatus();
}

int BwrapSandbox::AcquireSlot() {
  absl::MutexLock lock(&mu_);
  auto has_free = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    for (bool b : slot_busy_) {
      if (!b) return true;
    }
    return false;
  };
  mu_.Await(absl::Condition(&has_free));
  for (size_t i = 0; i < slot_busy_.size(); ++i) {
    if (!slot_busy_[i]) {
      slot_busy_[i] = true;
      return static_cast<int>(i);
    }
  }
  return -1;  // unreachable
}

void BwrapSandbox::ReleaseSlot(int slot) {
  absl::MutexLock lock(&mu_);
  slot_busy_[slot] = false;
}

absl::StatusOr<ProcessRunResult> BwrapSandbox::Run(const SandboxCommand& command) {
  RETURN_IF_ERROR(command.limits.Validate());
  if (command.argv.empty()) return absl::InvalidArgumentError("sandbox: empty argv");
  const int slot = AcquireSlot();
  ProcessSpec spec = SpecFor(command);
  spec.env = {"PATH=/usr/bin:/bin"};  // for bwrap itself; the program gets command.env
  // The limit inside counts the run's own tasks plus, on kernels before
  // 5.14, every other task of the host uid that runs bwrap.
  int64_t inside = command.limits.max_processes + kInitProcesses;
  if (is_root_) {
    spec.run_as_uid = slot_uids_[slot];
    // RLIMIT_NPROC is not enforced for root, and a run's uid is its own:
    // bwrap gets the whole run's budget. The PID namespace's init of an
    // earlier run lingers as a zombie until the system's init reaps it, and
    // zombies count.
    const int earlier = ScanUid(*spec.run_as_uid).zombies;
    spec.limits.max_processes = command.limits.max_processes + kInitProcesses + kMonitorProcesses + earlier;
    if (!nproc_per_user_namespace_) inside += kMonitorProcesses + earlier;
  } else {
    // bwrap keeps the caller's limit: set on bwrap, it would bound the
    // caller's uid across the host (other containers' tasks included), which
    // no count taken here can see.
    spec.limits.max_processes = 0;
    if (!nproc_per_user_namespace_) {
      const UidTasks mine = ScanUid(geteuid());
      inside += kMonitorProcesses + mine.live + mine.zombies;
    }
  }
  spec.argv = BwrapArgv(command, inside);
  auto r = RunLimitedProcess(spec);
  if (is_root_) KillLeftovers(*spec.run_as_uid);
  ReleaseSlot(slot);
  return r;
}

UnsafeSandbox::UnsafeSandbox(int max_parallel) : max_parallel_(std::max(1, max_parallel)) {}

absl::StatusOr<ProcessRunResult> UnsafeSandbox::Run(const SandboxCommand& command) {
  RETURN_IF_ERROR(command.limits.Validate());
  if (command.argv.empty()) return absl::InvalidArgumentError("sandbox: empty argv");
  {
    absl::MutexLock lock(&mu_);
    auto free = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return in_flight_ < max_parallel_; };
    mu_.Await(absl::Condition(&free));
    ++in_flight_;
  }
  ProcessSpec spec = SpecFor(command);
  spec.argv = command.argv;
  // Without a PID namespace the count is the user's, and root ignores it.
  spec.limits.max_processes = 0;
  auto r = RunLimitedProcess(spec);
  absl::MutexLock lock(&mu_);
  --in_flight_;
  return r;
}

}  // namespace ssd
