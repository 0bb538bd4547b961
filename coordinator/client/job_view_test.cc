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

TEST(JobViewTest, AShardedTrainingShowsItsModeAndEachRanksPeakMemory) {
  v1::Job j = WaitingForTrainers(2, 2);
  j.mutable_spec()->mutable_train()->set_sharding(v1::SHARDING_FULL);
  v1::StageProgress* p = j.mutable_progress();
  p->set_train_step(3);
  p->set_train_total_steps(10);
  p->set_train_loss(2.5);
  p->add_train_rank_peak_rss_bytes(int64_t{3} << 29);  // 1.5 GiB
  p->add_train_rank_peak_rss_bytes(0);                 // rank 1 has not reported
  WatchView view;
  const std::string watch = view.Render(j, 1'010'000);
  EXPECT_NE(watch.find("sharding full  peak RSS by rank 1.50 - GiB"), std::string::npos) << watch;
  // Unsharded with no reports: no memory line.
  j.mutable_spec()->mutable_train()->clear_sharding();
  p->clear_train_rank_peak_rss_bytes();
  EXPECT_EQ(WatchView().Render(j, 1'010'000).find("peak RSS"), std::string::npos);
  EXPECT_EQ(WatchView().Render(j, 1'010'000).find("sharding"), std::string::npos);
}

TEST(JobViewTest, AMixtureOfExpertsTrainingShowsItsWorstLayersExpertLoad) {
  v1::Job j = WaitingForTrainers(1, 1);
  v1::StageProgress* p = j.mutable_progress();
  p->set_train_step(3);
  p->set_train_total_steps(10);
  p->set_train_loss(2.5);
  EXPECT_EQ(WatchView().Render(j, 1'010'000).find("experts"), std::string::npos) << "a dense model has no experts";
  v1::ExpertLoadSummary* l = p->mutable_train_expert_load();
  l->set_layer(17);
  l->set_max_over_mean(3.41);
  l->set_dead_experts(5);
  l->set_num_experts(128);
  l->set_aux_loss(0.0021);
  const std::string watch = WatchView().Render(j, 1'010'000);
  EXPECT_NE(watch.find("experts max/mean 3.41 (layer 17, 5 of 128 idle)  aux 0.0021"), std::string::npos) << watch;
}

}  // namespace
}  // namespace ssd
