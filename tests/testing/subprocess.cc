#include "tests/testing/subprocess.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/time/time.h"
#include "common/util/process_group.h"

namespace ssd {

ProcessResult RunProcess(const std::vector<std::string>& argv, int timeout_s) {
  ProcessResult r;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    r.err = "pipe failed";
    return r;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    r.err = "pipe failed";
    return r;
  }
  SpawnOptions o;
  o.argv = argv;
  o.search_path = true;
  o.stdout_fd = out_pipe[1];
  o.stderr_fd = err_pipe[1];
  auto child = ProcessGroup::Spawn(o);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (!child.ok()) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    r.err = std::string(child.status().message());
    return r;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      (*child)->Signal(SIGKILL);
      r.timed_out = true;
      break;
    }
    if (poll(fds, 2, 1000) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (pollfd& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  // The pipes closed: the child is exiting. It gets the rest of its time to
  // finish; then it and whatever it left in its group are stopped.
  if (!r.timed_out) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (!(*child)->Wait(left.count() > 0 ? absl::FromChrono(left) : absl::ZeroDuration())) r.timed_out = true;
  }
  (*child)->Stop(absl::ZeroDuration());
  const int status = (*child)->wait_status();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, const std::string& log_path,
                                     const std::vector<std::string>& extra_env)
    : log_path_(log_path) {
  SpawnOptions o;
  o.argv = argv;
  o.search_path = true;
  o.log_path = log_path;
  for (const std::string& e : extra_env) {
    const size_t eq = e.find('=');
    o.env.emplace_back(e.substr(0, eq), eq == std::string::npos ? "" : e.substr(eq + 1));
  }
  auto child = ProcessGroup::Spawn(o);
  if (child.ok()) {
    group_ = std::move(*child);
  } else {
    std::ofstream(log_path, std::ios::app) << "BackgroundProcess: " << child.status().message() << "\n";
  }
}

BackgroundProcess::~BackgroundProcess() = default;

pid_t BackgroundProcess::pid() const { return group_ ? group_->pid() : -1; }

void BackgroundProcess::Signal(int sig) {
  if (group_) group_->Signal(sig);
}

int BackgroundProcess::Wait(double timeout_s) {
  if (!group_) return -1;
  if (!group_->Wait(absl::Seconds(timeout_s))) return -1;
  group_->Signal(SIGKILL);  // anything it left in its group
  return group_->wait_status();
}

bool BackgroundProcess::running() { return group_ && !group_->Poll(); }

std::string BackgroundProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool BackgroundProcess::WaitForLog(const std::string& needle, double timeout_s) {
  return WaitUntil([&] { return Log().find(needle) != std::string::npos; }, timeout_s);
}

std::vector<std::string> ProcessesMentioning(const std::string& needle) {
  std::vector<std::string> found;
  DIR* d = opendir("/proc");
  if (d == nullptr) return found;
  while (dirent* e = readdir(d)) {
    const std::string pid = e->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (pid == std::to_string(getpid())) continue;
    std::ifstream in("/proc/" + pid + "/cmdline");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string cmd = ss.str();
    for (char& c : cmd) {
      if (c == '\0') c = ' ';
    }
    // A zombie has an empty command line and holds nothing.
    if (cmd.find(needle) != std::string::npos) found.push_back(pid + ": " + cmd);
  }
  closedir(d);
  return found;
}

bool WaitUntil(const std::function<bool()>& predicate, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace ssd
