#include "common/util/process_group.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ssd {

absl::StatusOr<std::unique_ptr<ProcessGroup>> ProcessGroup::Spawn(const SpawnOptions& o) {
  if (o.argv.empty() || o.argv[0].empty()) return absl::InvalidArgumentError("spawn: no command");
  // Everything the child needs is built before fork: only async-signal-safe
  // calls run between fork and exec.
  std::vector<char*> args;
  for (const std::string& a : o.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : o.env) env_strings.push_back(absl::StrCat(k, "=", v));
  int log_fd = -1;
  if (!o.log_path.empty()) {
    log_fd = open(o.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return absl::InternalError(absl::StrCat(o.log_path, ": cannot open the log: ", strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    if (log_fd >= 0) close(log_fd);
    return absl::InternalError(absl::StrCat("fork for ", o.argv[0], ": ", strerror(err)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    if (o.die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the parent died before prctl took hold
    }
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
    }
    if (o.stdout_fd >= 0) dup2(o.stdout_fd, 1);
    if (o.stderr_fd >= 0) dup2(o.stderr_fd, 2);
    for (std::string& e : env_strings) putenv(e.data());
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    if (o.search_path) {
      execvp(args[0], args.data());
    } else {
      execv(args[0], args.data());
    }
    dprintf(2, "exec %s failed: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  if (log_fd >= 0) close(log_fd);
  setpgid(pid, pid);
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(pid));
}

ProcessGroup::~ProcessGroup() {
  if (reaped_) return;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
}

bool ProcessGroup::Poll() {
  if (reaped_) return true;
  const pid_t r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) reaped_ = true;
  return reaped_;
}

bool ProcessGroup::Wait(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) {
    while (!reaped_) {
      const pid_t r = waitpid(pid_, &status_, 0);
      if (r == pid_ || (r < 0 && errno == ECHILD)) reaped_ = true;
    }
    return true;
  }
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  while (!Poll()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

bool ProcessGroup::succeeded() const { return reaped_ && WIFEXITED(status_) && WEXITSTATUS(status_) == 0; }

std::string ProcessGroup::DescribeExit() const {
  if (!reaped_) return "is running";
  if (WIFEXITED(status_)) return absl::StrCat("exited with status ", WEXITSTATUS(status_));
  if (WIFSIGNALED(status_)) {
    return absl::StrCat("was killed by signal ", WTERMSIG(status_), " (", strsignal(WTERMSIG(status_)), ")");
  }
  return "stopped";
}

void ProcessGroup::Signal(int sig) { kill(-pid_, sig); }

void ProcessGroup::Stop(absl::Duration grace) {
  ProcessGroup* self = this;
  StopProcessGroups(absl::MakeConstSpan(&self, 1), grace);
}

void StopProcessGroups(absl::Span<ProcessGroup* const> groups, absl::Duration grace) {
  for (ProcessGroup* g : groups) {
    if (!g->Poll()) g->Signal(SIGTERM);
  }
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(grace);
  for (ProcessGroup* g : groups) {
    const auto left = deadline - std::chrono::steady_clock::now();
    g->Wait(left.count() > 0 ? absl::FromChrono(left) : absl::ZeroDuration());
  }
  for (ProcessGroup* g : groups) {
    // Whatever the child left in its group goes too.
    g->Signal(SIGKILL);
    if (!g->exited()) {
      kill(g->pid(), SIGKILL);
      g->Wait(absl::InfiniteDuration());
    }
  }
}

std::string TailOfLog(const std::string& path, int lines, absl::string_view indent) {
  // Only the end of the file is read: a daemon's log can be large.
  constexpr off_t kTailBytes = 64 << 10;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  const off_t size = lseek(fd, 0, SEEK_END);
  const off_t start = size > kTailBytes ? size - kTailBytes : 0;
  std::string text(static_cast<size_t>(size - start), '\0');
  const ssize_t got = size > 0 ? pread(fd, text.data(), text.size(), start) : 0;
  close(fd);
  text.resize(got > 0 ? static_cast<size_t>(got) : 0);
  std::vector<absl::string_view> all = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (start > 0 && !all.empty()) all.erase(all.begin());  // a partial first line
  const size_t first = all.size() > static_cast<size_t>(lines) ? all.size() - static_cast<size_t>(lines) : 0;
  std::string out;
  for (size_t i = first; i < all.size(); ++i) absl::StrAppend(&out, indent, all[i], "\n");
  return out;
}

std::string SelfExecutable() {
  char buf[4096] = {0};
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "ssd";
}

int64_t ProcessStatusKib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  const std::string prefix = field + ":";
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::atoll(line.c_str() + prefix.size());
  }
  return 0;
}

}  // namespace ssd
