#include "common/util/signals.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace ssd {
namespace {

TEST(SignalsTest, ABlockedSigtermIsReceivedByTheWaitingThreadNotTheDefaultAction) {
  BlockTerminationSignals();
  std::atomic<int> got{0};
  OnTerminationSignal([&](int sig) { got = sig; });
  kill(getpid(), SIGTERM);
  for (int i = 0; i < 200 && got == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(got, SIGTERM) << "the process would have died had the signal not been blocked";
  EXPECT_STREQ(SignalName(SIGTERM), "SIGTERM");
  EXPECT_STREQ(SignalName(SIGINT), "SIGINT");
}

TEST(SignalsTest, WaitReturnsWhicheverSignalCameFirst) {
  BlockTerminationSignals();
  std::thread sender([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(getpid(), SIGINT);
  });
  EXPECT_EQ(WaitForTerminationSignal(), SIGINT);
  sender.join();
}

}  // namespace
}  // namespace ssd
