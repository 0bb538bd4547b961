#include "trainer_worker/comm_queue.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace ssd {
namespace {

TEST(CommQueueTest, RunsOperationsInQueueOrderOnItsOwnThread) {
  CommQueue q;
  q.Start();
  std::vector<int> order;  // written only by the queue's thread
  std::vector<std::thread::id> threads;
  std::vector<CommQueue::Ticket> tickets;
  for (int i = 0; i < 100; ++i) {
    tickets.push_back(q.Enqueue("op " + std::to_string(i), [&, i] {
      order.push_back(i);
      threads.push_back(std::this_thread::get_id());
      return absl::OkStatus();
    }));
  }
  EXPECT_TRUE(q.Wait(tickets[50]).ok());
  EXPECT_TRUE(q.Drain().ok());
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  for (const auto& id : threads) EXPECT_NE(id, std::this_thread::get_id());
  EXPECT_TRUE(q.Wait(CommQueue::Ticket()).ok()) << "an empty ticket waits for nothing";
}

TEST(CommQueueTest, AfterAFailureTheRestAreSkippedWithThatErrorUntilDrain) {
  CommQueue q;
  q.Start();
  bool third_ran = false;
  CommQueue::Ticket a = q.Enqueue("all-gather of layers.0", [] { return absl::OkStatus(); });
  CommQueue::Ticket b = q.Enqueue("reduce-scatter of layers.1", [] { return absl::UnavailableError("peer 1 gone"); });
  CommQueue::Ticket c = q.Enqueue("all-gather of layers.2", [&] {
    third_ran = true;
    return absl::OkStatus();
  });
  EXPECT_TRUE(q.Wait(a).ok());
  EXPECT_EQ(q.Wait(b).message(), "reduce-scatter of layers.1: peer 1 gone");
  const absl::Status skipped = q.Wait(c);
  EXPECT_EQ(skipped.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(skipped.message(),
            "all-gather of layers.2: skipped after an earlier collective failed: reduce-scatter of layers.1: peer 1 "
            "gone");
  EXPECT_FALSE(third_ran);
  EXPECT_EQ(q.Drain().message(), "reduce-scatter of layers.1: peer 1 gone") << "Drain reports the first error";
  // Drain starts over: the next step's collectives run.
  bool ran = false;
  EXPECT_TRUE(q.Wait(q.Enqueue("next", [&] {
                 ran = true;
                 return absl::OkStatus();
               }))
                  .ok());
  EXPECT_TRUE(ran);
  EXPECT_TRUE(q.Drain().ok());
}

TEST(CommQueueTest, AThrowingOperationFailsWithItsMessageAndTheThreadLives) {
  CommQueue q;
  q.Start();
  CommQueue::Ticket t = q.Enqueue("gloo all-gather", []() -> absl::Status { throw std::runtime_error("timed out"); });
  EXPECT_EQ(q.Wait(t).message(), "gloo all-gather: timed out");
  EXPECT_FALSE(q.Drain().ok());
  EXPECT_TRUE(q.Wait(q.Enqueue("after", [] { return absl::OkStatus(); })).ok());
}

TEST(CommQueueTest, OperationsQueuedBeforeStartRunOnceItStarts) {
  CommQueue q;
  std::atomic<bool> ran{false};
  CommQueue::Ticket t = q.Enqueue("early", [&] {
    ran = true;
    return absl::OkStatus();
  });
  EXPECT_FALSE(ran.load());
  q.Start();
  q.Start();  // idempotent
  EXPECT_TRUE(q.Wait(t).ok());
  EXPECT_TRUE(ran.load());
}

TEST(CommQueueTest, ShutdownLetsTheRunningOperationFinishAndCancelsTheQueuedOnes) {
  CommQueue q;
  q.Start();
  absl::Notification started, release;
  bool second_ran = false;
  CommQueue::Ticket running = q.Enqueue("running", [&] {
    started.Notify();
    release.WaitForNotification();
    return absl::OkStatus();
  });
  CommQueue::Ticket queued = q.Enqueue("queued", [&] {
    second_ran = true;
    return absl::OkStatus();
  });
  started.WaitForNotification();
  std::thread stopper([&] { q.Shutdown(); });
  // Shutdown fails what has not started at once, while the running one
  // still runs.
  EXPECT_EQ(q.Wait(queued).code(), absl::StatusCode::kCancelled);
  release.Notify();
  stopper.join();
  EXPECT_TRUE(q.Wait(running).ok());
  EXPECT_FALSE(second_ran);
  q.Shutdown();  // idempotent
  const absl::Status late = q.Wait(q.Enqueue("late", [] { return absl::OkStatus(); }));
  EXPECT_EQ(late.code(), absl::StatusCode::kCancelled) << "nothing runs after Shutdown, and nothing waits forever";
}

}  // namespace
}  // namespace ssd
