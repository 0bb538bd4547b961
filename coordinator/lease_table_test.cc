#include "coordinator/lease_table.h"

#include <gtest/gtest.h>

#include <vector>

namespace ssd {
namespace {

class LeaseTableTest : public testing::Test {
 protected:
  LeaseTable table_{[this](const internal::ShardRecord& rec) { written_.push_back(rec); }};
  std::vector<internal::ShardRecord> written_;
};

v1::LeaseRef Ref(const Shard& s) { return LeaseTable::RefOf(s.rec); }

TEST_F(LeaseTableTest, ARangeCoversTheProblemsInQueuedShardsEachWritten) {
  table_.AddRange("job-1", 1, v1::LEASE_KIND_SAMPLE, 10, 4);
  ASSERT_EQ(table_.shards().size(), 3u);
  EXPECT_EQ(written_.size(), 3u);
  const Shard& last = table_.shards().rbegin()->second;
  EXPECT_EQ(last.rec.first_problem(), 8);
  EXPECT_EQ(last.rec.num_problems(), 2) << "the last shard holds the remainder";
  EXPECT_EQ(table_.Count(1, v1::LEASE_KIND_SAMPLE, internal::SHARD_STATE_QUEUED), 3);
  EXPECT_EQ(table_.NextQueued(1, v1::LEASE_KIND_SAMPLE)->rec.shard(), 0);
  EXPECT_EQ(table_.NextQueued(1, v1::LEASE_KIND_EVAL), nullptr);
  EXPECT_EQ(table_.NextQueued(2, v1::LEASE_KIND_SAMPLE), nullptr);
}

TEST_F(LeaseTableTest, AGrantRaisesTheEpochAndOnlySampleAndEvalLeasesLapse) {
  table_.AddRange("job-1", 1, v1::LEASE_KIND_SAMPLE, 4, 4);
  Shard& s = *table_.NextQueued(1, v1::LEASE_KIND_SAMPLE);
  table_.Grant(s, "sampler-1", 1000, 30);
  EXPECT_EQ(s.rec.epoch(), 1);
  EXPECT_EQ(s.rec.state(), internal::SHARD_STATE_LEASED);
  EXPECT_EQ(s.expiry_ms, 1030);
  EXPECT_EQ(written_.back().state(), internal::SHARD_STATE_LEASED) << "a grant is written";
  EXPECT_EQ(table_.NextQueued(1, v1::LEASE_KIND_SAMPLE), nullptr);
  EXPECT_TRUE(table_.Expired(1029).empty());
  EXPECT_EQ(table_.Expired(1030).size(), 1u);
  table_.Renew(s, 1020, 30);
  EXPECT_TRUE(table_.Expired(1030).empty()) << "a renewal pushes the expiry";

  internal::ShardRecord train;
  train.set_job_id("job-1");
  train.set_round(1);
  train.set_kind(v1::LEASE_KIND_TRAIN);
  train.set_state(internal::SHARD_STATE_QUEUED);
  Shard& t = table_.Add(train);
  table_.Grant(t, "trainer-1", 1000, 30);
  EXPECT_EQ(t.expiry_ms, 0) << "training leases end with their workers, not at a TTL";
  table_.Renew(t, 2000, 30);
  EXPECT_EQ(t.expiry_ms, 0);
}

TEST_F(LeaseTableTest, AReturnCountsAnAttemptKeepsTheLastTenReasonsAndFailsAtTheLimit) {
  table_.AddRange("job-1", 1, v1::LEASE_KIND_SAMPLE, 1, 1);
  Shard& s = *table_.NextQueued(1, v1::LEASE_KIND_SAMPLE);
  for (int i = 0; i < 11; ++i) {
    table_.Grant(s, "sampler-1", 0, 30);
    ASSERT_TRUE(table_.Return(s, "oom " + std::to_string(i), /*graceful=*/false, /*max_attempts=*/20));
    EXPECT_EQ(s.rec.state(), internal::SHARD_STATE_QUEUED);
    EXPECT_EQ(s.expiry_ms, 0);
  }
  EXPECT_EQ(s.rec.attempts(), 11);
  ASSERT_EQ(s.rec.failures_size(), 10);
  EXPECT_EQ(s.rec.failures(0), "oom 1") << "the oldest reason goes first";
  table_.Grant(s, "sampler-2", 0, 30);
  EXPECT_TRUE(table_.Return(s, "left", /*graceful=*/true, 12)) << "a graceful return costs no attempt";
  EXPECT_EQ(s.rec.attempts(), 11);
  table_.Grant(s, "sampler-2", 0, 30);
  EXPECT_FALSE(table_.Return(s, "oom again", false, 12));
  EXPECT_EQ(s.rec.state(), internal::SHARD_STATE_FAILED);
  EXPECT_EQ(written_.back().state(), internal::SHARD_STATE_FAILED);
  EXPECT_EQ(table_.Count(1, v1::LEASE_KIND_SAMPLE, internal::SHARD_STATE_FAILED), 1);
}

TEST_F(LeaseTableTest, ReturningATrainingLeaseDissolvesItsGroup) {
  internal::ShardRecord rec;
  rec.set_kind(v1::LEASE_KIND_TRAIN);
  rec.set_state(internal::SHARD_STATE_QUEUED);
  Shard& s = table_.Add(rec);
  s.rec.add_group("trainer-1");
  s.rec.add_group("trainer-2");
  s.rec.add_ranks_done(1);
  table_.Grant(s, "trainer-1", 0, 30);
  EXPECT_TRUE(LeaseTable::HeldBy(s.rec, "trainer-2"));
  EXPECT_EQ(LeaseTable::Holder(s.rec), "trainer-1,trainer-2");
  table_.Return(s, "rank died", false, 3);
  EXPECT_EQ(s.rec.group_size(), 0);
  EXPECT_EQ(s.rec.ranks_done_size(), 0);
}

TEST_F(LeaseTableTest, CheckRefusesStaleEpochsFinishedWorkAndAnotherWorkersLease) {
  table_.AddRange("job-1", 1, v1::LEASE_KIND_SAMPLE, 2, 1);
  Shard& s = *table_.NextQueued(1, v1::LEASE_KIND_SAMPLE);
  table_.Grant(s, "sampler-1", 0, 30);
  const v1::LeaseRef first = Ref(s);
  EXPECT_TRUE(table_.Check(first, "sampler-1").ok());
  EXPECT_EQ(table_.Check(first, "sampler-2").status().code(), absl::StatusCode::kPermissionDenied);
  table_.Return(s, "expired", false, 5);
  table_.Grant(s, "sampler-2", 0, 30);
  absl::Status stale = table_.Check(first, "sampler-1").status();
  EXPECT_EQ(stale.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.message().find("stale SAMPLE lease of job job-1 round 1 shard 0 (epoch 1)"), std::string::npos)
      << stale;
  table_.Complete(s);
  EXPECT_EQ(table_.Check(Ref(s), "sampler-2").status().code(), absl::StatusCode::kFailedPrecondition)
      << "finished work";
  v1::LeaseRef missing = first;
  missing.set_shard(7);
  EXPECT_EQ(table_.Check(missing, "sampler-1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LeaseTableTest, ARoundIsDoneOnlyWhenEveryShardIsDone) {
  table_.AddRange("job-1", 1, v1::LEASE_KIND_EVAL, 2, 1);
  EXPECT_FALSE(table_.AllDone(1, v1::LEASE_KIND_EVAL));
  for (int i = 0; i < 2; ++i) {
    Shard& s = *table_.NextQueued(1, v1::LEASE_KIND_EVAL);
    table_.Grant(s, "sampler-1", 0, 30);
    EXPECT_FALSE(table_.AllDone(1, v1::LEASE_KIND_EVAL));
    table_.Complete(s);
  }
  EXPECT_TRUE(table_.AllDone(1, v1::LEASE_KIND_EVAL));
  EXPECT_FALSE(table_.AllDone(1, v1::LEASE_KIND_SAMPLE)) << "no shards is not done";
}

TEST_F(LeaseTableTest, ARestoredShardIsNotWrittenAgainAndALeasedOneGetsTheGivenExpiry) {
  internal::ShardRecord rec;
  rec.set_round(2);
  rec.set_kind(v1::LEASE_KIND_SAMPLE);
  rec.set_state(internal::SHARD_STATE_LEASED);
  rec.set_epoch(4);
  rec.set_worker_id("sampler-3");
  table_.Restore(rec, 5000);
  EXPECT_TRUE(written_.empty());
  const Shard* s = table_.Find({2, v1::LEASE_KIND_SAMPLE, 0});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->expiry_ms, 5000);
  EXPECT_EQ(table_.Count(2, v1::LEASE_KIND_SAMPLE, internal::SHARD_STATE_LEASED), 1);
  EXPECT_EQ(table_.Expired(5000).size(), 1u);
}

}  // namespace
}  // namespace ssd
