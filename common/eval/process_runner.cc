#include "common/eval/process_runner.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace ssd {
namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Only async-signal-safe calls from here to execve: the parent may have
// other threads.
[[noreturn]] void ExecChild(const ProcessSpec& spec, char* const* argv, char* const* envp, int in_fd, int out_fd,
                            int err_fd, pid_t parent) {
  dup2(in_fd, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  syscall(SYS_close_range, 3u, ~0u, 0u);
  setpgid(0, 0);
  if (chdir("/") != 0) _exit(126);
  auto limit = [](int resource, int64_t value) {
    if (value <= 0) return true;
    const rlimit rl{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
    return setrlimit(resource, &rl) == 0;
  };
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  if (!limit(RLIMIT_CPU, spec.limits.cpu_s) || !limit(RLIMIT_AS, spec.limits.address_space_bytes) ||
      !limit(RLIMIT_NPROC, spec.limits.max_processes) || !limit(RLIMIT_FSIZE, spec.limits.file_size_bytes) ||
      !limit(RLIMIT_NOFILE, spec.limits.open_files)) {
    static const char kMsg[] = "process_runner: setrlimit failed\n";
    (void)!write(2, kMsg, sizeof(kMsg) - 1);
    _exit(126);
  }
  if (spec.run_as_uid.has_value()) {
    const uid_t id = *spec.run_as_uid;
    if (setgroups(0, nullptr) != 0 || setresgid(id, id, id) != 0 || setresuid(id, id, id) != 0) {
      static const char kMsg[] = "process_runner: cannot switch to the sandbox uid\n";
      (void)!write(2, kMsg, sizeof(kMsg) - 1);
      _exit(126);
    }
  }
  // After the uid switch: changing credentials clears the parent-death
  // signal.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(126);  // the parent already died
  execve(argv[0], argv, envp);
  static const char kMsg[] = "process_runner: execve failed\n";
  (void)!write(2, kMsg, sizeof(kMsg) - 1);
  _exit(127);
}

}  // namespace

absl::StatusOr<ProcessRunResult> RunLimitedProcess(const ProcessSpec& spec) {
  static std::once_flag ignore_sigpipe;
  // A child that exits without reading its stdin must not kill us.
  std::call_once(ignore_sigpipe, [] { signal(SIGPIPE, SIG_IGN); });
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/') {
    return absl::InvalidArgumentError("process_runner: argv[0] must be an absolute path");
  }
  std::vector<char*> argv, envp;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const std::string& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe2: ", strerror(errno)));
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]), close(in_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe2: ", strerror(errno)));
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]), close(in_pipe[1]), close(out_pipe[0]), close(out_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe2: ", strerror(errno)));
  }
  const double start = Now();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) ExecChild(spec, argv.data(), envp.data(), in_pipe[0], out_pipe[1], err_pipe[1], parent);
  // Also from the parent, so a kill right after fork finds the group.
  setpgid(pid, pid);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);

  ProcessRunResult r;
  int in_fd = in_pipe[1];
  size_t written = 0;
  if (spec.stdin_data.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  int read_fds[2] = {out_pipe[0], err_pipe[0]};
  std::string* sinks[2] = {&r.out, &r.err};
  bool exited = false;
  double exit_time = 0;
  int status = 0;
  char buf[65536];
  while (true) {
    if (!exited) {
      const pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        exited = true;
        exit_time = Now();
      }
    }
    const bool readers_open = read_fds[0] >= 0 || read_fds[1] >= 0;
    // A grandchild that outlived the child and keeps writing gets half a
    // second of draining, not forever.
    if (exited && (!readers_open || Now() - exit_time > 0.5)) break;
    if (!exited && Now() - start > spec.wall_timeout_s) {
      r.wall_timeout = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      exited = true;
      exit_time = Now();
    }
    pollfd fds[3];
    int n = 0;
    for (int i = 0; i < 2; ++i) {
      if (read_fds[i] >= 0) fds[n++] = pollfd{read_fds[i], POLLIN, 0};
    }
    if (in_fd >= 0 && !exited) fds[n++] = pollfd{in_fd, POLLOUT, 0};
    // After the child exited, whatever is still buffered is read without
    // waiting for EOF: a daemonized grandchild may hold the pipe open.
    const int ready = poll(fds, n, exited ? 0 : 20);
    if (ready <= 0) {
      if (exited) break;
      continue;
    }
    for (int k = 0; k < n; ++k) {
      if (fds[k].revents == 0) continue;
      if (fds[k].fd == in_fd) {
        const ssize_t w = write(in_fd, spec.stdin_data.data() + written, spec.stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN) written = spec.stdin_data.size();  // EPIPE: the child stopped reading
        if (written == spec.stdin_data.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      const int i = fds[k].fd == read_fds[0] ? 0 : 1;
      const ssize_t got = read(read_fds[i], buf, sizeof(buf));
      if (got <= 0) {
        close(read_fds[i]);
        read_fds[i] = -1;
        continue;
      }
      const size_t room = spec.max_output_bytes - std::min(spec.max_output_bytes, sinks[i]->size());
      if (static_cast<size_t>(got) > room && i == 0) r.out_truncated = true;
      sinks[i]->append(buf, std::min(room, static_cast<size_t>(got)));
    }
  }
  // Whatever is left of the group dies with the run.
  kill(-pid, SIGKILL);
  for (int fd : {in_fd, read_fds[0], read_fds[1]}) {
    if (fd >= 0) close(fd);
  }
  r.wall_s = Now() - start;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

}  // namespace ssd
