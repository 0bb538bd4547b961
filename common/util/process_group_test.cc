#include "common/util/process_group.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/util/file_util.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

SpawnOptions Shell(const std::string& script, const std::string& log = "") {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", script};
  o.log_path = log;
  return o;
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

// The pid a script wrote to `path`, once it has.
pid_t ReadPid(const std::string& path) {
  for (int i = 0; i < 200; ++i) {
    std::ifstream in(path);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

TEST(ProcessGroupTest, OutputGoesToTheLogAndTheExitIsDescribed) {
  ScopedTempDir dir("ssd_process_group");
  SpawnOptions o = Shell("echo out; echo err >&2; echo \"$GREETING\"; exit 3", dir.Join("log"));
  o.env = {{"GREETING", "hello"}};
  auto child = ProcessGroup::Spawn(o);
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE((*child)->Wait(absl::Seconds(10)));
  EXPECT_FALSE((*child)->succeeded());
  EXPECT_EQ((*child)->DescribeExit(), "exited with status 3");
  EXPECT_EQ(*ReadFileToString(dir.Join("log")), "out\nerr\nhello\n");
  EXPECT_EQ(TailOfLog(dir.Join("log"), 2, "> "), "> err\n> hello\n");
}

TEST(ProcessGroupTest, StopReachesWhatTheChildStartedInItsGroup) {
  ScopedTempDir dir("ssd_process_group");
  // The child starts a grandchild and records its pid.
  auto child = ProcessGroup::Spawn(Shell("sleep 300 & echo $! > " + dir.Join("pid") + "; wait"));
  ASSERT_TRUE(child.ok());
  const pid_t grandchild = ReadPid(dir.Join("pid"));
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(Alive(grandchild));
  (*child)->Stop(absl::Seconds(5));
  EXPECT_TRUE((*child)->exited());
  EXPECT_NE((*child)->DescribeExit(), "is running");
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = !Alive(grandchild);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "the grandchild outlived its group's stop";
}

TEST(ProcessGroupTest, AChildThatIgnoresSigtermIsKilledAfterTheGrace) {
  ScopedTempDir dir("ssd_process_group");
  auto child =
      ProcessGroup::Spawn(Shell("trap '' TERM; echo ready > " + dir.Join("ready") + "; while :; do sleep 1; done"));
  ASSERT_TRUE(child.ok());
  for (int i = 0; i < 200 && !PathExists(dir.Join("ready")); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto start = std::chrono::steady_clock::now();
  (*child)->Stop(absl::Milliseconds(300));
  const double took_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE((*child)->exited());
  EXPECT_TRUE(WIFSIGNALED((*child)->wait_status()));
  EXPECT_EQ(WTERMSIG((*child)->wait_status()), SIGKILL);
  EXPECT_GE(took_s, 0.25) << "SIGKILL came before the grace period ended";
}

TEST(ProcessGroupTest, DestroyingARunningGroupKillsAndReapsIt) {
  pid_t pid = 0;
  {
    auto child = ProcessGroup::Spawn(Shell("sleep 300"));
    ASSERT_TRUE(child.ok());
    pid = (*child)->pid();
    EXPECT_FALSE((*child)->Poll());
  }
  // Reaped: the pid is no child of ours any more.
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_FALSE(Alive(pid));
}

TEST(ProcessGroupTest, AnExecFailureIsStatus127WithTheReasonInTheLog) {
  ScopedTempDir dir("ssd_process_group");
  SpawnOptions o;
  o.argv = {"/nonexistent/program"};
  o.log_path = dir.Join("log");
  auto child = ProcessGroup::Spawn(o);
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE((*child)->Wait(absl::Seconds(10)));
  EXPECT_EQ((*child)->DescribeExit(), "exited with status 127");
  EXPECT_NE(ReadFileToString(dir.Join("log"))->find("exec /nonexistent/program failed"), std::string::npos);
}

TEST(ProcessGroupTest, TheChildStartsWithNoSignalBlockedEvenWhenTheParentBlocksThem) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  auto child = ProcessGroup::Spawn(Shell("sleep 300"));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(child.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*child)->Signal(SIGTERM);
  ASSERT_TRUE((*child)->Wait(absl::Seconds(10))) << "SIGTERM was blocked in the child";
  EXPECT_EQ(WTERMSIG((*child)->wait_status()), SIGTERM);
}

TEST(ProcessGroupTest, AMissingCommandIsRefused) {
  EXPECT_EQ(ProcessGroup::Spawn(SpawnOptions()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ssd
