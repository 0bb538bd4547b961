#include "coordinator/worker_registry.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/util/sha256.h"

namespace ssd {
namespace {

class WorkerRegistryTest : public testing::Test {
 protected:
  v1::RegisterWorkerRequest Request(v1::WorkerRole role, const std::string& address = "") {
    v1::RegisterWorkerRequest r;
    r.set_role(role);
    r.set_address(address);
    return r;
  }
  WorkerRegistry::Registration Register(const v1::RegisterWorkerRequest& r,
                                        const v1::WorkerCredentials* resume = nullptr) {
    auto reg = registry_.Register(r, resume, "ipv4:10.0.0.1:5000", [this](v1::WorkerRole role) {
      return std::string(role == v1::WORKER_ROLE_SAMPLER ? "sampler-" : "trainer-") + std::to_string(++next_);
    });
    EXPECT_TRUE(reg.ok()) << reg.status();
    return *reg;
  }

  FakeClock clock_;
  std::vector<std::string> written_;
  WorkerRegistry registry_{&clock_, [this](const WorkerEntry& w) { written_.push_back(w.id()); }};
  int next_ = 0;
};

TEST_F(WorkerRegistryTest, ANewWorkerGetsAnIdAndASessionThatIsStoredOnlyAsItsHash) {
  WorkerRegistry::Registration r = Register(Request(v1::WORKER_ROLE_SAMPLER, "10.0.0.1:7000"));
  EXPECT_EQ(r.worker->id(), "sampler-1");
  EXPECT_FALSE(r.resumed);
  EXPECT_EQ(r.session.size(), 48u);
  EXPECT_EQ(r.worker->rec.session_sha256(), Sha256(r.session));
  EXPECT_EQ(r.worker->rec.SerializeAsString().find(r.session), std::string::npos) << "the secret is never stored";
  EXPECT_EQ(written_, std::vector<std::string>{"sampler-1"});
  EXPECT_EQ(r.worker->rec.status().peer(), "ipv4:10.0.0.1:5000");
}

TEST_F(WorkerRegistryTest, AResumeKeepsTheIdOnlyWithTheRightSessionAndRole) {
  WorkerRegistry::Registration first = Register(Request(v1::WORKER_ROLE_TRAINER));
  v1::RegisterWorkerRequest again = Request(v1::WORKER_ROLE_TRAINER);
  v1::WorkerCredentials resume;
  resume.set_worker_id(first.worker->id());
  resume.set_session(first.session);
  WorkerRegistry::Registration resumed = Register(again, &resume);
  EXPECT_TRUE(resumed.resumed);
  EXPECT_EQ(resumed.worker, first.worker);
  EXPECT_EQ(resumed.session, first.session);

  auto x = [](v1::WorkerRole) { return std::string("x"); };
  resume.set_session("not-it");
  EXPECT_EQ(registry_.Register(again, &resume, "", x).status().code(), absl::StatusCode::kPermissionDenied);
  resume.set_session(first.session);
  again.set_role(v1::WORKER_ROLE_SAMPLER);
  EXPECT_EQ(registry_.Register(again, &resume, "", x).status().code(), absl::StatusCode::kInvalidArgument);
  v1::WorkerCredentials stranger;
  stranger.set_worker_id("trainer-99");
  stranger.set_session("s");
  again.set_role(v1::WORKER_ROLE_TRAINER);
  WorkerRegistry::Registration fresh = Register(again, &stranger);
  EXPECT_FALSE(fresh.resumed) << "credentials this registry never issued register a new worker";
  EXPECT_NE(fresh.worker->id(), "trainer-99");
}

TEST_F(WorkerRegistryTest, AuthenticationNamesWhatIsWrongAndBringsADeadWorkerBack) {
  WorkerRegistry::Registration r = Register(Request(v1::WORKER_ROLE_SAMPLER));
  EXPECT_EQ(registry_.Authenticate("", r.session).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.Authenticate("sampler-9", r.session).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Authenticate("sampler-1", "guess").status().code(), absl::StatusCode::kPermissionDenied);
  registry_.SetState(*r.worker, v1::WORKER_STATE_DEAD);
  clock_.AdvanceMs(5000);
  auto back = registry_.Authenticate("sampler-1", r.session);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)->state, v1::WORKER_STATE_ALIVE);
  EXPECT_EQ((*back)->last_seen_ms, clock_.NowMs());
  registry_.SetState(*r.worker, v1::WORKER_STATE_LEFT);
  EXPECT_EQ(registry_.Authenticate("sampler-1", r.session).status().code(), absl::StatusCode::kFailedPrecondition)
      << "a worker that left registers again";
}

TEST_F(WorkerRegistryTest, IdleTrainersAreLiveTrainersWithoutTrainingOrPushWorkAskerFirst) {
  WorkerEntry& asking = *Register(Request(v1::WORKER_ROLE_TRAINER)).worker;
  WorkerEntry& busy = *Register(Request(v1::WORKER_ROLE_TRAINER)).worker;
  WorkerEntry& dead = *Register(Request(v1::WORKER_ROLE_TRAINER)).worker;
  WorkerEntry& idle = *Register(Request(v1::WORKER_ROLE_TRAINER)).worker;
  Register(Request(v1::WORKER_ROLE_SAMPLER, "h:1"));
  busy.leases.insert({"job-1", ShardId{1, v1::LEASE_KIND_PUSH, 0}});
  registry_.SetState(dead, v1::WORKER_STATE_DEAD);
  std::vector<WorkerEntry*> got = registry_.IdleTrainers(idle);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], &idle);
  EXPECT_EQ(got[1], &asking);
}

TEST_F(WorkerRegistryTest, HoldersAndPushChainsAreLiveSamplersWithAnAddress) {
  WorkerEntry& a = *Register(Request(v1::WORKER_ROLE_SAMPLER, "a:1")).worker;
  WorkerEntry& b = *Register(Request(v1::WORKER_ROLE_SAMPLER, "b:1")).worker;
  Register(Request(v1::WORKER_ROLE_SAMPLER));  // no address: cannot be reached
  v1::WeightsRef v1ref;
  v1ref.set_job_id("job-1");
  v1ref.set_version(1);
  google::protobuf::RepeatedPtrField<v1::WeightsRef> held;
  *held.Add() = v1ref;
  WorkerRegistry::NoteHeld(a, held);
  WorkerRegistry::NoteHeld(b, held);
  registry_.SetState(b, v1::WORKER_STATE_DEAD);
  std::vector<v1::PushTarget> holders = registry_.Holders("job-1", 1);
  ASSERT_EQ(holders.size(), 1u);
  EXPECT_EQ(holders[0].worker_id(), a.id());
  EXPECT_EQ(holders[0].address(), "a:1");
  EXPECT_TRUE(registry_.Holders("job-1", 2).empty());
  EXPECT_EQ(registry_.LiveSamplers().size(), 1u);
}

TEST_F(WorkerRegistryTest, AfterARestartLiveWorkersAreRecoveringAndGoSilentAfterTheirGrace) {
  WorkerRegistry::Registration r = Register(Request(v1::WORKER_ROLE_SAMPLER));
  internal::WorkerRecord rec = r.worker->rec;
  rec.mutable_status()->set_state(v1::WORKER_STATE_ALIVE);
  WorkerRegistry fresh(&clock_, [](const WorkerEntry&) {});
  fresh.Restore(rec, clock_.NowMs() + 500);
  WorkerEntry* w = fresh.Find("sampler-1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->state, v1::WORKER_STATE_RECOVERING);
  EXPECT_TRUE(fresh.Silent(clock_.NowMs() + 1000, 1000).empty());
  EXPECT_EQ(fresh.Silent(clock_.NowMs() + 1501, 1000).size(), 1u);
  EXPECT_TRUE(fresh.Authenticate("sampler-1", r.session).ok()) << "the session survives the restart";
}

TEST_F(WorkerRegistryTest, ARegistrationNamesItsBadField) {
  v1::RegisterWorkerRequest r = Request(v1::WORKER_ROLE_UNSPECIFIED);
  EXPECT_EQ(WorkerRegistry::ValidateRegistration(r).message(), "role: must be SAMPLER or TRAINER");
  r.set_role(v1::WORKER_ROLE_SAMPLER);
  r.set_address("no-port");
  EXPECT_EQ(WorkerRegistry::ValidateRegistration(r).message(), "address: \"no-port\" is not host:port");
  r.set_address("h:1");
  r.mutable_capabilities()->set_rendezvous_port(70000);
  EXPECT_EQ(WorkerRegistry::ValidateRegistration(r).message(), "capabilities.rendezvous_port: not a TCP port");
  r.mutable_capabilities()->set_rendezvous_port(0);
  r.mutable_capabilities()->set_rank_hint(-2);
  EXPECT_EQ(WorkerRegistry::ValidateRegistration(r).message(), "capabilities.rank_hint: -2 is negative");
}

}  // namespace
}  // namespace ssd
