#include "coordinator/client/api_json.h"

#include <set>
#include <string>

#include "coordinator/job_state.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "ssd/v1/job.pb.h"
#include "ssd/v1/job_service.pb.h"
#include "ssd/v1/replay_store.pb.h"
#include "ssd/v1/sampler.pb.h"
#include "ssd/v1/types.pb.h"

namespace ssd {
namespace {

using Json = nlohmann::json;

TEST(ApiJsonTest, JobStatesAreTheShortNamesTheTablesPrint) {
  for (int i = 0; i < v1::JobState_descriptor()->value_count(); ++i) {
    const auto* value = v1::JobState_descriptor()->value(i);
    v1::Job job;
    job.set_id("job-1");
    job.set_state(static_cast<v1::JobState>(value->number()));
    const Json j = Json::parse(ToJson(job));
    EXPECT_EQ(j["state"], JobStateName(job.state())) << value->name();
  }
}

TEST(ApiJsonTest, NestedRepeatedAndListEnumsAreShortAndStringsAreLeftAlone) {
  v1::ListWorkersResponse list;
  v1::WorkerStatus* w = list.add_workers();
  w->set_worker_id("trainer-2");
  w->set_role(v1::WORKER_ROLE_TRAINER);
  w->set_state(v1::WORKER_STATE_RECOVERING);
  w->add_leases()->set_kind(v1::LEASE_KIND_TRAIN);
  w->add_leases()->set_kind(v1::LEASE_KIND_PUSH);
  // A string that happens to spell an enum value is data, not an enum.
  w->set_hostname("JOB_STATE_SUCCEEDED");
  const Json j = Json::parse(ToJson(list));
  const Json& worker = j["workers"][0];
  EXPECT_EQ(worker["role"], "TRAINER");
  EXPECT_EQ(worker["state"], "RECOVERING");
  EXPECT_EQ(worker["leases"][0]["kind"], "TRAIN");
  EXPECT_EQ(worker["leases"][1]["kind"], "PUSH");
  EXPECT_EQ(worker["hostname"], "JOB_STATE_SUCCEEDED");

  v1::Job job;
  job.mutable_spec()->mutable_filter()->set_length_unit(v1::LENGTH_UNIT_TOKENS);
  job.add_rounds()->mutable_filter()->set_length_unit(v1::LENGTH_UNIT_CHARS);
  job.mutable_spec()->mutable_train()->set_trainers(1);
  const Json k = Json::parse(ToJson(job));
  EXPECT_EQ(k["spec"]["filter"]["length_unit"], "TOKENS");
  EXPECT_EQ(k["rounds"][0]["filter"]["length_unit"], "CHARS");
  EXPECT_EQ(k["spec"]["train"]["schedule"], "UNSPECIFIED") << "defaults are printed too";
}

TEST(ApiJsonTest, KeepsTheProtobufMappingOtherwise) {
  v1::Job job;
  job.set_id("job-7");
  job.set_round(2);
  job.set_created_unix_ms(1234567890123);
  job.mutable_progress()->set_samples_per_s(0.1);
  const std::string text = ToJson(job);
  EXPECT_EQ(text.find('\n'), std::string::npos) << "one line";
  EXPECT_EQ(text.rfind("{\"id\":\"job-7\",", 0), 0u) << "fields in proto order: " << text;
  const Json j = Json::parse(text);
  EXPECT_EQ(j["created_unix_ms"], "1234567890123") << "int64 as a string, as the mapping prints it";
  EXPECT_EQ(j["round"], 2);
  EXPECT_DOUBLE_EQ(j["progress"]["samples_per_s"].get<double>(), 0.1);
  EXPECT_EQ(j["error"], "");
}

TEST(ApiJsonTest, AValueThisBuildDoesNotKnowStaysANumber) {
  v1::Job job;
  job.set_state(static_cast<v1::JobState>(99));
  EXPECT_EQ(Json::parse(ToJson(job))["state"], 99);
}

TEST(ApiJsonTest, EveryApiEnumHasAPrefixAndDistinctShortNames) {
  for (const auto* e :
       {v1::JobState_descriptor(), v1::WorkerRole_descriptor(), v1::WorkerState_descriptor(),
        v1::LeaseKind_descriptor(), v1::LengthUnit_descriptor(), v1::LrSchedule_descriptor(), v1::Batching_descriptor(),
        v1::Difficulty_descriptor(), v1::FinishReason_descriptor(), v1::DType_descriptor()}) {
    std::set<std::string> shorts;
    for (int i = 0; i < e->value_count(); ++i) {
      const std::string s(ShortEnumName(*e->value(i)));
      EXPECT_NE(s, e->value(i)->name()) << e->name() << ": no common prefix was stripped";
      EXPECT_FALSE(s.empty()) << e->value(i)->name();
      EXPECT_TRUE(shorts.insert(s).second) << e->name() << ": two values are both " << s;
    }
  }
}

}  // namespace
}  // namespace ssd
