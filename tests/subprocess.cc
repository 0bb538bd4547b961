#include "tests/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace ssd {

ProcessResult RunProcess(const std::vector<std::string>& argv, int timeout_s) {
  ProcessResult r;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.err = "pipe failed";
    return r;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    dprintf(2, "exec %s failed: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec > timeout_s) {
      kill(pid, SIGKILL);
      r.timed_out = true;
      break;
    }
    if (poll(fds, 2, 1000) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, const std::string& log_path,
                                     const std::vector<std::string>& extra_env)
    : log_path_(log_path) {
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    // Die with the test even if it is SIGKILLed itself.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    for (const std::string& e : extra_env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    dprintf(2, "exec %s failed: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  // Also from the parent, so that a Signal right after the fork reaches the
  // group whichever runs first.
  if (pid_ > 0) setpgid(pid_, pid_);
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ <= 0 || reaped_) return;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  waitpid(pid_, &status_, 0);
}

void BackgroundProcess::Signal(int sig) {
  if (pid_ > 0 && !reaped_) kill(-pid_, sig);
}

int BackgroundProcess::Wait(double timeout_s) {
  if (reaped_) return status_;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    const pid_t r = waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      kill(-pid_, SIGKILL);  // anything it left in its group
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

bool BackgroundProcess::running() {
  if (reaped_) return false;
  return Wait(0) == -1;
}

std::string BackgroundProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool BackgroundProcess::WaitForLog(const std::string& needle, double timeout_s) {
  return WaitUntil([&] { return Log().find(needle) != std::string::npos; }, timeout_s);
}

bool WaitUntil(const std::function<bool()>& predicate, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string SsdBinary() {
  const char* b = getenv("SSD_BIN");
  if (b != nullptr) return b;
  // Beside this binary (build/bin/ for benches) or in ../bin (build/tests/).
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    const std::string dir = std::string(self, static_cast<size_t>(n)).substr(0, std::string(self, n).rfind('/'));
    for (const std::string& c : {dir + "/ssd", dir + "/../bin/ssd"}) {
      if (access(c.c_str(), X_OK) == 0) return c;
    }
  }
  return "ssd";
}

std::string SourceDir() {
  const char* s = getenv("SSD_SOURCE_DIR");
  return s ? s : ".";
}

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  return mkdtemp(buf.data());
}

void RemoveTree(const std::string& path) {
  if (path.rfind("/tmp/", 0) == 0) RunProcess({"rm", "-rf", path}, 60);
}

}  // namespace ssd
