#include "coordinator/client/job_view.h"

#include <string>

#include "gtest/gtest.h"

namespace ssd {
namespace {

v1::Job WaitingForTrainers(int32_t registered, int32_t wanted) {
  v1::Job j;
  j.set_id("job-3");
  j.set_state(v1::JOB_STATE_TRAINING);
  j.set_round(1);
  j.mutable_spec()->set_rounds(1);
  j.mutable_spec()->mutable_train()->set_trainers(wanted);
  j.set_state_since_unix_ms(1'000'000);
  j.mutable_progress()->set_trainers_registered(registered);
  return j;
}

TEST(JobViewTest, AJobShortOfTrainersSaysHowLongItWaitedAndHowManyAreRegistered) {
  const v1::Job j = WaitingForTrainers(1, 2);
  const int64_t now = 1'000'000 + 125'000;  // 2:05 later
  WatchView view;
  const std::string watch = view.Render(j, now);
  EXPECT_NE(watch.find("waiting 2:05 for trainers: 1 registered, train.trainers asks for 2"), std::string::npos)
      << watch;
  EXPECT_NE(FormatJobDetails(j, now).find("waiting 2:05 for trainers: 1 registered"), std::string::npos)
      << "ssd status says it too";
  v1::ListJobsResponse list;
  *list.add_jobs() = j;
  EXPECT_NE(FormatJobsTable(list, now).find("waiting for trainers (1/2)"), std::string::npos);
}

TEST(JobViewTest, AJobWithEnoughTrainersRegisteredWaitsForThemToBeFree) {
  WatchView view;
  const std::string watch = view.Render(WaitingForTrainers(3, 2), 1'000'000 + 4'000);
  EXPECT_NE(watch.find("waiting 0:04 for 2 free trainer(s) (3 registered)"), std::string::npos) << watch;
}

}  // namespace
}  // namespace ssd
