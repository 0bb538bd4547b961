// WorkerSession against the coordinator daemon in this process (the real
// services over the in-memory store and a fake clock): registration,
// credentials on every call, revocations through heartbeats, and riding out
// a coordinator restart.
#include "coordinator/client/worker_session.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/cluster/in_process_coordinator.h"
#include "tests/testing/subprocess.h"

namespace ssd {
namespace {

class WorkerSessionTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(coordinator_.Start().ok());
    client_ = coordinator_.Client();
    ASSERT_NE(client_, nullptr);
  }
  WorkerSessionOptions Options() const {
    WorkerSessionOptions o;
    o.channel = coordinator_.Channel();
    o.registration.set_role(v1::WORKER_ROLE_SAMPLER);
    o.registration.set_address("127.0.0.1:1");
    o.call_timeout_ms = 5000;
    o.unavailable_retry_ms = 20000;
    return o;
  }
  std::string SubmitJob(int problems = 4) {
    auto r = client_->Submit(coordinator_.SamplingSpec(problems, 2, 2), coordinator_.dir());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job_id() : "";
  }
  // The worker as ListWorkers shows it; state UNSPECIFIED when absent.
  v1::WorkerStatus Listed(const std::string& id) {
    auto all = client_->ListWorkers(/*include_gone=*/true);
    EXPECT_TRUE(all.ok()) << all.status();
    for (const v1::WorkerStatus& w : all->workers()) {
      if (w.worker_id() == id) return w;
    }
    return v1::WorkerStatus();
  }

  InProcessCoordinator coordinator_;
  std::unique_ptr<ClusterClient> client_;
};

TEST_F(WorkerSessionTest, RegistersAndEveryCallCarriesItsCredentials) {
  auto session = WorkerSession::Start(Options());
  ASSERT_TRUE(session.ok()) << session.status();
  const v1::WorkerCredentials me = (*session)->credentials();
  EXPECT_FALSE(me.worker_id().empty());
  EXPECT_FALSE(me.session().empty());
  EXPECT_EQ(Listed(me.worker_id()).state(), v1::WORKER_STATE_ALIVE);
  const std::string job = SubmitJob();
  auto work = (*session)->Acquire();
  ASSERT_TRUE(work.ok()) << work.status();
  ASSERT_TRUE(work->has_shard()) << work->DebugString();
  EXPECT_EQ(work->shard().lease().job_id(), job);
  // The coordinator knows the lease as this worker's.
  EXPECT_EQ(Listed(me.worker_id()).leases_size(), 1);
  v1::ReportWorkRequest failed;
  *failed.mutable_lease() = work->shard().lease();
  failed.mutable_failed()->set_reason("worker_session_test");
  EXPECT_TRUE((*session)->Report(failed).ok());
  EXPECT_EQ(Listed(me.worker_id()).leases_size(), 0);
}

TEST_F(WorkerSessionTest, ALeaseOfACancelledJobIsRevokedByTheNextHeartbeat) {
  auto session = WorkerSession::Start(Options());
  ASSERT_TRUE(session.ok()) << session.status();
  const std::string job = SubmitJob();
  auto work = (*session)->Acquire();
  ASSERT_TRUE(work.ok() && work->has_shard());
  const v1::LeaseRef lease = work->shard().lease();
  (*session)->AddLease(lease);
  // Heartbeats renew it: it outlives its TTL on the coordinator's clock.
  coordinator_.clock().AdvanceMs(1500);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  coordinator_.clock().AdvanceMs(1500);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE((*session)->Revoked(lease));
  ASSERT_TRUE(client_->Cancel(job, "worker_session_test").ok());
  EXPECT_TRUE(WaitUntil([&] { return (*session)->Revoked(lease); }, 10));
}

TEST_F(WorkerSessionTest, ACoordinatorRestartKeepsTheWorkersIdentityAndItsLease) {
  auto session = WorkerSession::Start(Options());
  ASSERT_TRUE(session.ok()) << session.status();
  const std::string id = (*session)->credentials().worker_id();
  SubmitJob();
  auto work = (*session)->Acquire();
  ASSERT_TRUE(work.ok() && work->has_shard());
  const v1::LeaseRef lease = work->shard().lease();
  (*session)->AddLease(lease);
  coordinator_.Stop();
  // A call made while it is down waits for it.
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    ASSERT_TRUE(coordinator_.Start().ok());
  });
  auto next = (*session)->Acquire();
  restart.join();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*session)->credentials().worker_id(), id);
  // Heartbeats after the restart renew the old lease: past the recovery
  // grace it is still this worker's.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (int i = 0; i < 3; ++i) {  // 2.7 s on the coordinator's clock, in steps under the lease TTL
    coordinator_.clock().AdvanceMs(900);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_FALSE((*session)->Revoked(lease));
  const v1::WorkerStatus listed = Listed(id);
  EXPECT_EQ(listed.state(), v1::WORKER_STATE_ALIVE);
  bool holds = false;
  for (const v1::LeaseRef& l : listed.leases()) holds |= l.shard() == lease.shard() && l.epoch() == lease.epoch();
  EXPECT_TRUE(holds) << listed.DebugString();
}

TEST_F(WorkerSessionTest, AWorkerACoordinatorNeverMetRegistersAgainUnderANewIdentity) {
  auto session = WorkerSession::Start(Options());
  ASSERT_TRUE(session.ok()) << session.status();
  const v1::WorkerCredentials before = (*session)->credentials();
  coordinator_.Stop();
  coordinator_.ForgetEverything();
  ASSERT_TRUE(coordinator_.Start().ok());
  client_ = coordinator_.Client();
  auto work = (*session)->Acquire();
  ASSERT_TRUE(work.ok()) << work.status();
  const v1::WorkerCredentials after = (*session)->credentials();
  EXPECT_NE(after.session(), before.session());
  EXPECT_EQ(Listed(after.worker_id()).state(), v1::WORKER_STATE_ALIVE);
}

TEST_F(WorkerSessionTest, DeregisterLeavesAndItsShardGoesToTheNextWorker) {
  auto session = WorkerSession::Start(Options());
  ASSERT_TRUE(session.ok()) << session.status();
  const std::string job = SubmitJob(2);
  auto work = (*session)->Acquire();
  ASSERT_TRUE(work.ok() && work->has_shard());
  (*session)->AddLease(work->shard().lease());
  ASSERT_TRUE((*session)->Deregister().ok());
  EXPECT_EQ(Listed((*session)->credentials().worker_id()).state(), v1::WORKER_STATE_LEFT);
  // The shard is free at once, under a new epoch.
  auto other = WorkerSession::Start(Options());
  ASSERT_TRUE(other.ok());
  auto again = (*other)->Acquire();
  ASSERT_TRUE(again.ok() && again->has_shard()) << again.status();
  EXPECT_EQ(again->shard().lease().shard(), work->shard().lease().shard());
  EXPECT_EQ(again->shard().lease().epoch(), work->shard().lease().epoch() + 1);
}

TEST_F(WorkerSessionTest, ACoordinatorThatNeverAnswersFailsStartNamingItsAddress) {
  coordinator_.Stop();
  WorkerSessionOptions o = Options();
  o.unavailable_retry_ms = 1500;
  o.call_timeout_ms = 500;
  auto session = WorkerSession::Start(o);
  ASSERT_FALSE(session.ok());
  EXPECT_NE(session.status().message().find("registering with the coordinator at " + coordinator_.address()),
            std::string::npos)
      << session.status();
}

}  // namespace
}  // namespace ssd
