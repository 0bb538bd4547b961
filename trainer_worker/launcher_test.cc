#include "trainer_worker/launcher.h"

#include <gtest/gtest.h>

namespace ssd {
namespace {

LaunchOptions Sh(const std::string& script, int nproc) {
  LaunchOptions o;
  o.binary = "/bin/sh";
  // sh -c SCRIPT NAME --rank i ...: the rank flags land in $1.. ($2 is the rank).
  o.args = {"-c", script, "rank"};
  o.nproc = nproc;
  o.master_port = 12345;
  o.grace_s = 1;
  return o;
}

TEST(LauncherTest, EachRankGetsItsRankAndTheRendezvousFlags) {
  auto argv = RankArgv(Sh("true", 3), 2);
  const std::vector<std::string> tail(argv.end() - 10, argv.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"--rank", "2", "--world-size", "3", "--master-addr", "127.0.0.1",
                                            "--master-port", "12345", "--store-owner", "external"}));
}

TEST(LauncherTest, SucceedsWhenEveryRankExitsZero) { EXPECT_TRUE(LaunchLocalRanks(Sh("exit 0", 3)).ok()); }

TEST(LauncherTest, AFailingRankIsNamedAndTheOthersAreStopped) {
  // Rank 1 fails at once; rank 0 would sleep for a minute unless stopped.
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status s = LaunchLocalRanks(Sh("if [ \"$2\" = 1 ]; then exit 3; fi; sleep 60", 2));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rank 1 of 2"), std::string::npos) << s;
  EXPECT_NE(s.message().find("exited with status 3"), std::string::npos) << s;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
}

TEST(LauncherTest, ARankKilledBySignalIsReported) {
  absl::Status s = LaunchLocalRanks(Sh("kill -9 $$", 1));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("signal 9"), std::string::npos) << s;
}

}  // namespace
}  // namespace ssd
