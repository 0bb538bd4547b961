// Both KvStore implementations against the same contract: ordered prefix
// scans, atomic batches, deletes, and (RocksDB) durability across reopen.
#include "common/storage/kv_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/storage/in_memory_kv_store.h"
#include "common/storage/rocksdb_kv_store.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

const std::vector<std::string> kTables = {"a", "b"};

class KvStoreTest : public testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      tmp_ = std::make_unique<ScopedTempDir>("kv_store_test");
      auto s = RocksDbKvStore::Open({tmp_->path()}, kTables);
      ASSERT_TRUE(s.ok()) << s.status();
      store_ = std::move(*s);
    } else {
      store_ = std::make_unique<InMemoryKvStore>(kTables);
    }
  }
  void TearDown() override {
    store_.reset();
    tmp_.reset();
  }
  std::vector<std::string> Keys(int table, const std::string& prefix, const std::string& start = "") {
    std::vector<std::string> out;
    EXPECT_TRUE(store_
                    ->Scan(table, prefix, start,
                           [&](absl::string_view k, absl::string_view) {
                             out.emplace_back(k);
                             return true;
                           })
                    .ok());
    return out;
  }
  std::unique_ptr<ScopedTempDir> tmp_;
  std::unique_ptr<KvStore> store_;
};

TEST_P(KvStoreTest, ScansVisitExactlyThePrefixInByteOrderFromStart) {
  WriteBatch b;
  for (std::string k : {"p/2", "p/10", "p/1", "q/1", "o/9", "p/\xff"}) b.Put(0, k, "v");
  b.Put(1, "p/5", "other table");
  ASSERT_TRUE(store_->Apply(b, true).ok());
  EXPECT_EQ(Keys(0, "p/"), (std::vector<std::string>{"p/1", "p/10", "p/2", "p/\xff"}));
  EXPECT_EQ(Keys(0, "p/", "p/10\x01"), (std::vector<std::string>{"p/2", "p/\xff"}));
  EXPECT_EQ(Keys(1, "p/"), (std::vector<std::string>{"p/5"}));
  EXPECT_EQ(Keys(0, "zz"), std::vector<std::string>{});
}

TEST_P(KvStoreTest, StopsWhenTheVisitorSaysSo) {
  WriteBatch b;
  for (int i = 0; i < 10; ++i) b.Put(0, "k" + std::to_string(i), "v");
  ASSERT_TRUE(store_->Apply(b, false).ok());
  int seen = 0;
  ASSERT_TRUE(store_->Scan(0, "k", "", [&](absl::string_view, absl::string_view) { return ++seen < 3; }).ok());
  EXPECT_EQ(seen, 3);
}

TEST_P(KvStoreTest, GetReturnsNulloptForMissingAndValueAfterPutAndNulloptAfterDelete) {
  auto missing = store_->Get(0, "x");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  WriteBatch put;
  put.Put(0, "x", std::string("bytes\0with nul", 14));
  ASSERT_TRUE(store_->Apply(put, true).ok());
  auto got = store_->Get(0, "x");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, std::string("bytes\0with nul", 14));
  WriteBatch del;
  del.Delete(0, "x");
  ASSERT_TRUE(store_->Apply(del, true).ok());
  EXPECT_FALSE(store_->Get(0, "x")->has_value());
}

INSTANTIATE_TEST_SUITE_P(Impl, KvStoreTest, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& i) { return i.param ? "RocksDb" : "InMemory"; });

TEST(RocksDbKvStoreTest, SyncedBatchSurvivesAChildKilledRightAfterTheWrite) {
  ScopedTempDir tmp("kv_store_test");
  const std::string dir = tmp.path();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = RocksDbKvStore::Open({dir}, kTables);
    if (!s.ok()) _exit(3);
    WriteBatch b;
    for (int i = 0; i < 100; ++i) b.Put(1, "key" + std::to_string(i), std::string(100, 'x'));
    if (!(*s)->Apply(b, true).ok()) _exit(4);
    // No close, no flush: the process dies as if SIGKILLed.
    raise(SIGKILL);
    _exit(5);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  auto s = RocksDbKvStore::Open({dir}, kTables);
  ASSERT_TRUE(s.ok()) << s.status();
  int n = 0;
  ASSERT_TRUE((*s)->Scan(1, "key", "",
                         [&](absl::string_view, absl::string_view v) {
                           EXPECT_EQ(v.size(), 100u);
                           ++n;
                           return true;
                         })
                  .ok());
  EXPECT_EQ(n, 100);
  s->reset();
}

TEST(RocksDbKvStoreTest, SecondOpenOfALockedFolderFailsNamingTheFolder) {
  ScopedTempDir tmp("kv_store_test");
  const std::string dir = tmp.path();
  auto first = RocksDbKvStore::Open({dir}, kTables);
  ASSERT_TRUE(first.ok());
  auto second = RocksDbKvStore::Open({dir}, kTables);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(dir), std::string::npos) << second.status();
  EXPECT_NE(second.status().message().find("another coordinator"), std::string::npos) << second.status();
  first->reset();
}

TEST(RocksDbKvStoreTest, ReopenWithAnExtraTableKeepsTheOldTablesData) {
  ScopedTempDir tmp("kv_store_test");
  const std::string dir = tmp.path();
  {
    auto s = RocksDbKvStore::Open({dir}, {"a"});
    ASSERT_TRUE(s.ok());
    WriteBatch b;
    b.Put(0, "k", "v");
    ASSERT_TRUE((*s)->Apply(b, true).ok());
  }
  auto s = RocksDbKvStore::Open({dir}, {"b", "a"});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*(*s)->Get(1, "k").value(), "v");
  EXPECT_FALSE((*s)->Get(0, "k")->has_value());
  s->reset();
}

TEST(InMemoryKvStoreTest, InjectedFailureRejectsTheWholeBatch) {
  InMemoryKvStore store(kTables);
  store.FailNextApply(absl::UnavailableError("disk gone"));
  WriteBatch b;
  b.Put(0, "a", "1");
  b.Put(0, "b", "2");
  EXPECT_EQ(store.Apply(b, true).code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(store.Get(0, "a")->has_value());
  EXPECT_TRUE(store.Apply(b, true).ok());
  EXPECT_TRUE(store.Get(0, "b")->has_value());
}

}  // namespace
}  // namespace ssd
