// Group commit: order, merging of concurrent batches into few synced
// writes, and the stop-on-failure rule.
#include "coordinator/commit_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/storage/in_memory_kv_store.h"

namespace ssd {
namespace {

WriteBatch One(const std::string& k) {
  WriteBatch b;
  b.Put(0, k, "v");
  return b;
}

TEST(CommitLogTest, CallbacksRunInSequenceOrderOnlyAfterTheDataIsStored) {
  InMemoryKvStore store({"t"});
  CommitLog log(&store, {}, nullptr);
  log.Start();
  std::vector<uint64_t> order;
  absl::Mutex mu;
  for (int i = 0; i < 50; ++i) {
    const uint64_t seq = log.Enqueue(One("k" + std::to_string(i)));
    log.WhenDurable(seq, [&, seq, i](const absl::Status& s) {
      EXPECT_TRUE(s.ok());
      EXPECT_TRUE(store.Get(0, "k" + std::to_string(i))->has_value());
      absl::MutexLock l(&mu);
      order.push_back(seq);
    });
  }
  ASSERT_TRUE(log.Flush().ok());
  absl::MutexLock l(&mu);
  ASSERT_EQ(order.size(), 50u);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
}

TEST(CommitLogTest, ConcurrentBatchesShareSyncedWrites) {
  InMemoryKvStore store({"t"});
  CommitLog log(&store, {}, nullptr);
  log.Start();
  std::vector<std::thread> threads;
  std::atomic<int> acked{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        log.WhenDurable(log.Enqueue(One(std::to_string(t) + "/" + std::to_string(i))),
                        [&](const absl::Status& s) { acked += s.ok(); });
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(log.Flush().ok());
  EXPECT_EQ(acked.load(), 4000);
  // Every write was synced, and batches were grouped.
  EXPECT_EQ(store.synced_applies(), log.groups_written());
  EXPECT_LT(log.groups_written(), 4000);
}

TEST(CommitLogTest, AWaiterForAnAlreadyDurableBatchWaitsForTheCallbacksBeforeIt) {
  InMemoryKvStore store({"t"});
  CommitLog log(&store, {}, nullptr);
  log.Start();
  absl::Notification entered, release;
  absl::Mutex mu;
  std::vector<int> order;
  const uint64_t seq = log.Enqueue(One("a"));
  log.WhenDurable(seq, [&](const absl::Status&) {
    entered.Notify();
    release.WaitForNotification();
    absl::MutexLock l(&mu);
    order.push_back(1);
  });
  // The batch is durable and its first callback is running.
  entered.WaitForNotification();
  log.WhenDurable(seq, [&](const absl::Status&) {
    absl::MutexLock l(&mu);
    order.push_back(2);
  });
  {
    absl::MutexLock l(&mu);
    EXPECT_TRUE(order.empty()) << "the second callback ran inline, before the first finished";
  }
  release.Notify();
  ASSERT_TRUE(log.Flush().ok());
  absl::MutexLock l(&mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(CommitLogTest, AFailedWriteFailsItsWaitersAndEverythingAfterAndTurnsUnhealthy) {
  InMemoryKvStore store({"t"});
  CommitLog log(&store, {}, nullptr);
  store.FailNextApply(absl::ResourceExhaustedError("disk full"));
  log.Start();
  absl::Status first;
  absl::Notification n;
  log.WhenDurable(log.Enqueue(One("a")), [&](const absl::Status& s) {
    first = s;
    n.Notify();
  });
  n.WaitForNotification();
  EXPECT_EQ(first.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(log.health().code(), absl::StatusCode::kResourceExhausted);
  absl::Status later;
  absl::Notification later_done;
  log.WhenDurable(log.Enqueue(One("b")), [&](const absl::Status& s) {
    later = s;
    later_done.Notify();
  });
  later_done.WaitForNotification();
  EXPECT_EQ(later.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(store.Get(0, "b")->has_value());
}

TEST(CommitLogTest, ShutdownCommitsWhatIsQueued) {
  InMemoryKvStore store({"t"});
  {
    CommitLog log(&store, {}, nullptr);
    log.Start();
    for (int i = 0; i < 100; ++i) log.Enqueue(One("k" + std::to_string(i)));
    log.Shutdown();
  }
  EXPECT_TRUE(store.Get(0, "k99")->has_value());
}

}  // namespace
}  // namespace ssd
