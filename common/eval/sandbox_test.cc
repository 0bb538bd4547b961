// The sandbox as a security boundary. Each probe is untrusted Python that
// tries one escape; the test asserts the bubblewrap sandbox stops it, and,
// where that is safe to do, that the same probe succeeds without the
// sandbox (UnsafeSandbox), so no test passes just because the probe is
// broken.
#include "common/eval/sandbox.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/util/ports.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

constexpr char kPython[] = "/usr/bin/python3";

class SandboxTest : public testing::Test {
 protected:
  void SetUp() override {
    auto sb = BwrapSandbox::Create(BwrapSandboxOptions{});
    if (!sb.ok()) SSD_SKIP_OR_FAIL("bubblewrap unavailable here: " + sb.status().ToString());
    sandbox_ = std::move(*sb);
  }

  static ProcessRunResult RunPython(Sandbox& sb, const std::string& code, SandboxLimits limits = {}) {
    SandboxCommand c;
    c.argv = {kPython, "-I", "-c", code};
    c.env = {"PATH=/usr/bin:/bin", "HOME=/tmp"};
    c.limits = limits;
    auto r = sb.Run(c);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ProcessRunResult{};
  }

  std::unique_ptr<BwrapSandbox> sandbox_;
  UnsafeSandbox unsafe_{1};
};

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Pids of processes whose command line contains `marker`.
std::vector<pid_t> FindProcesses(const std::string& marker) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(absl::StrCat("/proc/", e->d_name, "/cmdline"));
    std::stringstream ss;
    ss << f.rdbuf();
    if (ss.str().find(marker) != std::string::npos) out.push_back(std::atoi(e->d_name));
  }
  closedir(d);
  return out;
}

TEST_F(SandboxTest, RunsAProgramAndCapturesItsOutput) {
  ProcessRunResult r = RunPython(*sandbox_, "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)");
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.exit_code, 3);
}

TEST_F(SandboxTest, GeneratedCodeCannotOpenANetworkConnection) {
  absl::StatusOr<LoopbackListener> listener = LoopbackListener::Open();
  ASSERT_TRUE(listener.ok()) << listener.status();
  const std::string probe = absl::StrCat(
      "import socket\n"
      "try:\n"
      "    socket.create_connection(('127.0.0.1', ",
      listener->port(),
      "), timeout=3)\n"
      "    print('connected')\n"
      "except OSError as e:\n"
      "    print('blocked', e)\n");
  EXPECT_EQ(RunPython(unsafe_, probe).out, "connected\n");  // the probe works
  const ProcessRunResult r = RunPython(*sandbox_, probe);
  EXPECT_EQ(r.out.rfind("blocked", 0), 0u) << r.out << r.err;
}

TEST_F(SandboxTest, GeneratedCodeCannotLeaveAFileBehind) {
  ScopedTempDir tmp("ssd_sandbox_test", "/var/tmp");
  const std::string dir = tmp.path();
  chmod(dir.c_str(), 0777);  // so only the sandbox, not permissions, stands in the way
  const std::string escaped = dir + "/escaped.txt";
  const std::string probe = absl::StrCat(
      "import os\n"
      "open('/tmp/inside.txt', 'w').write('x')\n"  // the private tmpfs is writable
      "for p in ['",
      escaped, "', '/usr/escaped.txt', '/var/tmp/escaped_", getpid(),
      "']:\n"
      "    try:\n"
      "        open(p, 'w').write('x')\n"
      "        print('wrote', p)\n"
      "    except OSError as e:\n"
      "        print('refused', p)\n");
  const ProcessRunResult r = RunPython(*sandbox_, probe);
  EXPECT_EQ(r.out.find("wrote"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(Exists(escaped));
  EXPECT_FALSE(Exists(absl::StrCat("/var/tmp/escaped_", getpid())));
  // Without the sandbox the same write lands on the host.
  RunPython(unsafe_, absl::StrCat("open('", escaped, "', 'w').write('x')"));
  EXPECT_TRUE(Exists(escaped));
}

TEST_F(SandboxTest, GeneratedCodeCannotReadFilesOutsideTheAllowedSet) {
  ScopedTempDir tmp("ssd_sandbox_test", "/var/tmp");
  const std::string dir = tmp.path();  // a stand-in for a data dir
  chmod(dir.c_str(), 0755);
  const std::string secret = dir + "/secret.txt";
  std::ofstream(secret) << "s3cret";
  chmod(secret.c_str(), 0644);
  const char* src = std::getenv("SSD_SOURCE_DIR");
  const std::string source_file = src ? std::string(src) + "/CMakeLists.txt" : "/work/eval-wt/CMakeLists.txt";
  const std::string probe = absl::StrCat("for p in ['", secret, "', '", source_file,
                                         "', '/etc/shadow', '/root/.bash_history']:\n"
                                         "    try:\n"
                                         "        open(p).read(1)\n"
                                         "        print('read', p)\n"
                                         "    except OSError:\n"
                                         "        pass\n");
  const ProcessRunResult r = RunPython(*sandbox_, probe);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "") << r.out;
  const ProcessRunResult u = RunPython(unsafe_, probe);
  EXPECT_NE(u.out.find("read " + secret), std::string::npos) << u.out;
}

// Forks up to 100 sleeping children and prints how many it got.
constexpr char kForkCountProbe[] =
    "import os, time\n"
    "n = 0\n"
    "for i in range(100):\n"
    "    try:\n"
    "        if os.fork() == 0:\n"
    "            time.sleep(30)\n"
    "            os._exit(0)\n"
    "        n += 1\n"
    "    except OSError:\n"
    "        break\n"
    "print(n)\n";

// The fork-count probe under max_processes 10 and 200: {forks, forks}.
std::pair<int, int> ForksUnderTightAndLooseLimits(Sandbox& sb) {
  SandboxLimits tight;
  tight.max_processes = 10;
  SandboxLimits loose;
  loose.max_processes = 200;
  SandboxCommand c;
  c.argv = {kPython, "-I", "-c", kForkCountProbe};
  c.env = {"PATH=/usr/bin:/bin", "HOME=/tmp"};
  c.limits = tight;
  auto t = sb.Run(c);
  c.limits = loose;
  auto l = sb.Run(c);
  return {t.ok() ? std::atoi(t->out.c_str()) : -1, l.ok() ? std::atoi(l->out.c_str()) : -1};
}

TEST_F(SandboxTest, GeneratedCodeCannotForkBombTheMachine) {
  // A counting probe first: the same code forks far more with a higher
  // limit, so the limit is what stops it.
  const auto [tight_n, loose_n] = ForksUnderTightAndLooseLimits(*sandbox_);
  EXPECT_LT(tight_n, 10);
  EXPECT_EQ(loose_n, 100);

  // The real thing: every process forks forever. It ends at the wall clock
  // and leaves nothing behind.
  SandboxLimits bomb;
  bomb.max_processes = 8;
  bomb.wall_s = 2;
  const auto start = std::chrono::steady_clock::now();
  const ProcessRunResult r = RunPython(*sandbox_,
                                       "import os\n"
                                       "marker = 'ssd-fork-bomb-marker'\n"
                                       "while True:\n"
                                       "    try:\n"
                                       "        os.fork()\n"
                                       "    except OSError:\n"
                                       "        pass\n",
                                       bomb);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(r.wall_timeout);
  EXPECT_LT(took, 10);
  usleep(200 * 1000);
  EXPECT_TRUE(FindProcesses("ssd-fork-bomb-marker").empty());
}

TEST_F(SandboxTest, GeneratedCodeCannotExhaustMemory) {
  const std::string probe =
      "try:\n"
      "    b = bytes(1 << 30)  # calloc: reserves without touching pages\n"
      "    print('allocated')\n"
      "except MemoryError:\n"
      "    print('MemoryError')\n";
  SandboxLimits small;
  small.address_space_bytes = int64_t{512} << 20;
  SandboxLimits big;
  big.address_space_bytes = int64_t{3} << 30;
  EXPECT_EQ(RunPython(*sandbox_, probe, small).out, "MemoryError\n");
  EXPECT_EQ(RunPython(*sandbox_, probe, big).out, "allocated\n");
}

TEST_F(SandboxTest, GeneratedCodeCannotOutliveItsTimeout) {
  // The probe daemonizes a grandchild (new session, so it leaves the process
  // group) and then hangs. A unique sleep length marks the grandchild.
  const std::string marker = absl::StrCat("987.", getpid() % 1000);
  const std::string probe = absl::StrCat(
      "import os, time\n"
      "if os.fork() == 0:\n"
      "    os.setsid()\n"
      "    os.execv('/usr/bin/sleep', ['sleep', '",
      marker,
      "'])\n"
      "time.sleep(100)\n");
  SandboxLimits limits;
  limits.wall_s = 2;
  const auto start = std::chrono::steady_clock::now();
  const ProcessRunResult r = RunPython(*sandbox_, probe, limits);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(r.wall_timeout);
  EXPECT_LT(took, 6);
  usleep(200 * 1000);
  EXPECT_TRUE(FindProcesses(marker).empty());

  // Without the sandbox the daemon survives the run (and is cleaned up here).
  RunPython(unsafe_, probe, limits);
  usleep(200 * 1000);
  const std::vector<pid_t> survivors = FindProcesses(marker);
  EXPECT_FALSE(survivors.empty());
  for (pid_t p : survivors) kill(p, SIGKILL);
}

TEST_F(SandboxTest, GeneratedCodeCannotKillProcessesOutside) {
  const pid_t victim = fork();
  if (victim == 0) {
    execl("/usr/bin/sleep", "sleep", "300", nullptr);
    _exit(127);
  }
  const std::string probe = absl::StrCat(
      "import os, signal\n"
      "try:\n"
      "    os.kill(",
      victim,
      ", signal.SIGKILL)\n"
      "    print('killed')\n"
      "except OSError as e:\n"
      "    print('refused', type(e).__name__)\n");
  const ProcessRunResult r = RunPython(*sandbox_, probe);
  EXPECT_EQ(r.out.rfind("refused", 0), 0u) << r.out << r.err;
  int status = 0;
  EXPECT_EQ(waitpid(victim, &status, WNOHANG), 0) << "the victim died";
  // Without the sandbox the same probe kills it.
  EXPECT_EQ(RunPython(unsafe_, probe).out, "killed\n");
  EXPECT_EQ(waitpid(victim, &status, 0), victim);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST_F(SandboxTest, CpuTimeIsLimitedPerProcess) {
  SandboxLimits limits;
  limits.cpu_s = 1;
  limits.wall_s = 20;
  const ProcessRunResult r = RunPython(*sandbox_, "while True: pass", limits);
  EXPECT_FALSE(r.wall_timeout);
  // At the hard limit the kernel sends SIGKILL; bwrap reports a child's
  // death by signal as exit status 128 + signal.
  EXPECT_TRUE(r.exit_code == 128 + SIGKILL || r.exit_code == 128 + SIGXCPU) << r.exit_code;
  EXPECT_LT(r.wall_s, 10);
}

TEST_F(SandboxTest, FileSizeIsLimited) {
  SandboxLimits limits;
  limits.file_size_bytes = 1 << 20;
  const ProcessRunResult r = RunPython(*sandbox_,
                                       "try:\n"
                                       "    open('/tmp/big', 'wb').write(b'x' * (4 << 20))\n"
                                       "    print('wrote')\n"
                                       "except OSError as e:\n"
                                       "    print('refused')\n",
                                       limits);
  EXPECT_EQ(r.out, "refused\n") << r.err;
}

TEST_F(SandboxTest, RunsAtMostMaxParallelProgramsAtOnce) {
  // Four half-second programs through a two-wide sandbox take two rounds.
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([this] { RunPython(*sandbox_, "import time; time.sleep(0.5)"); });
  }
  for (auto& t : threads) t.join();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(sandbox_->max_parallel(), 2);
  EXPECT_GE(took, 1.0);
}

TEST(BwrapSandboxCreateTest, ConcurrentSandboxesNeverShareAUid) {
  if (geteuid() != 0) GTEST_SKIP() << "uids are per run only when running as root";
  // A uid range of its own, so other tests' sandboxes do not interfere.
  BwrapSandboxOptions narrow;
  narrow.uid_base = 62000;
  narrow.uid_range = 4;
  auto a = BwrapSandbox::Create(narrow);
  if (!a.ok()) GTEST_SKIP() << a.status();
  auto b = BwrapSandbox::Create(narrow);  // gets the other two
  ASSERT_TRUE(b.ok()) << b.status();
  // Both still run programs...
  for (Sandbox* sb : {static_cast<Sandbox*>(a->get()), static_cast<Sandbox*>(b->get())}) {
    SandboxCommand cmd;
    cmd.argv = {"/usr/bin/true"};
    auto r = sb->Run(cmd);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0);
  }
  // ...and hold all four uids between them, so a third finds none free.
  auto c = BwrapSandbox::Create(narrow);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted) << c.status();
  a->reset();  // releases its two
  EXPECT_TRUE(BwrapSandbox::Create(narrow).ok());
}

// Runs in a death-test child: becomes `uid`, with a second process of that
// uid holding 300 threads (what other containers' processes of one uid look
// like to the kernel, which counts every task of a uid against
// RLIMIT_NPROC), and runs the fork-count probe through a sandbox created as
// that uid. Exits 0 when the limits hold as they do for root.
[[noreturn]] void ForkCountAsUidBesideManyThreads(uid_t uid) {
  int ready[2];
  if (pipe(ready) != 0) _exit(3);
  const pid_t ballast = fork();
  if (ballast == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) _exit(4);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::vector<std::thread> threads;
    for (int i = 0; i < 300; ++i) threads.emplace_back([] { pause(); });
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char byte;
  if (ballast < 0 || read(ready[0], &byte, 1) != 1) _exit(5);
  if (setgroups(0, nullptr) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) _exit(6);
  auto sb = BwrapSandbox::Create(BwrapSandboxOptions{});
  if (!sb.ok()) {
    std::fprintf(stderr, "create as uid %u: %s\n", uid, sb.status().ToString().c_str());
    kill(ballast, SIGKILL);
    _exit(7);
  }
  const auto [tight_n, loose_n] = ForksUnderTightAndLooseLimits(**sb);
  kill(ballast, SIGKILL);
  waitpid(ballast, nullptr, 0);
  std::fprintf(stderr, "forks: tight=%d loose=%d\n", tight_n, loose_n);
  _exit(tight_n >= 0 && tight_n < 10 && loose_n == 100 ? 0 : 8);
}

TEST(BwrapSandboxNonRootTest, LimitsProcessesPerRunWhileItsUidRunsManyThreadsElsewhere) {
  // A sampler in a container runs as a non-root uid that its neighbours
  // share (compose's trainers and coordinator here). Its sandbox must still
  // start, and still hold a run to its own process budget.
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run as another uid";
  if (!BwrapSandbox::Create(BwrapSandboxOptions{}).ok()) SSD_SKIP_OR_FAIL("bubblewrap unavailable here");
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(ForkCountAsUidBesideManyThreads(63999), testing::ExitedWithCode(0), "forks: tight=[0-9] loose=100");
}

TEST(BwrapSandboxCreateTest, RefusesWithAClearErrorWhenBubblewrapIsMissing) {
  BwrapSandboxOptions o;
  o.bwrap_path = "/nonexistent/bwrap";
  auto sb = BwrapSandbox::Create(o);
  ASSERT_FALSE(sb.ok());
  EXPECT_EQ(sb.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(sb.status().message().find("--unsafe-no-sandbox"), std::string::npos) << sb.status();
}

TEST(BwrapSandboxCreateTest, RefusesWithAClearErrorWhenPrlimitIsMissing) {
  BwrapSandboxOptions o;
  o.prlimit_path = "/nonexistent/prlimit";
  auto sb = BwrapSandbox::Create(o);
  ASSERT_FALSE(sb.ok());
  EXPECT_EQ(sb.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(sb.status().message().find("util-linux"), std::string::npos) << sb.status();
}

TEST(BwrapSandboxCreateTest, OptionsNameTheBadField) {
  BwrapSandboxOptions o;
  o.read_only_paths = {"/"};
  EXPECT_NE(o.Validate().message().find("read_only_paths"), std::string::npos);
  o = BwrapSandboxOptions{};
  o.prlimit_path = "prlimit";
  EXPECT_NE(o.Validate().message().find("prlimit_path"), std::string::npos);
  o = BwrapSandboxOptions{};
  o.max_parallel = 0;
  EXPECT_NE(o.Validate().message().find("max_parallel"), std::string::npos);
  SandboxLimits l;
  l.wall_s = 0;
  EXPECT_NE(l.Validate().message().find("wall_s"), std::string::npos);
}

}  // namespace
}  // namespace ssd
