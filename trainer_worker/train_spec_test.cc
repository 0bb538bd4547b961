#include "trainer_worker/train_spec.h"

#include <gtest/gtest.h>

#include "common/util/file_util.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

v1::TrainSpec Spec() {
  v1::TrainSpec t;
  t.set_epochs(2);
  t.set_lr(3e-4);
  t.set_schedule(v1::LR_SCHEDULE_LINEAR);
  t.set_min_lr(1e-6);
  t.set_warmup_steps(7);
  t.set_batch_tokens(512);
  t.set_micro_batch_tokens(128);
  t.set_max_seq_len(64);
  t.set_weight_decay(0.1);
  t.set_beta1(0.9);
  t.set_beta2(0.95);
  t.set_grad_clip(1.0);
  t.set_trainers(2);
  t.set_batching(v1::BATCHING_PACKED);
  t.set_seed(12345678901234ull);
  return t;
}

TEST(TrainSpecTest, AWrittenSpecReadsBackExactlyDoublesIncluded) {
  ScopedTempDir dir("train_spec_test");
  v1::TrainSpec t = Spec();
  t.set_lr(1.0 / 3);  // no short decimal form
  ASSERT_TRUE(WriteTrainSpec(t, TrainSpecPath(dir.path())).ok());
  absl::StatusOr<v1::TrainSpec> back = ReadTrainSpec(TrainSpecPath(dir.path()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), t.SerializeAsString());
  EXPECT_NE(ReadFileToString(TrainSpecPath(dir.path()))->find("\"schedule\": \"LR_SCHEDULE_LINEAR\""),
            std::string::npos)
      << "enums are written by name";
}

TEST(TrainSpecTest, ABadFileIsRefusedNamingIt) {
  ScopedTempDir dir("train_spec_test");
  const std::string path = dir.Join("spec.json");
  ASSERT_TRUE(WriteFileAtomically(path, R"({"lr": 0.1, "warmpu_steps": 3})").ok());
  absl::StatusOr<v1::TrainSpec> bad = ReadTrainSpec(path);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find(path + ": not a TrainSpec"), std::string::npos) << bad.status();
  EXPECT_NE(bad.status().message().find("warmpu_steps"), std::string::npos) << "the unknown field is named";
  ASSERT_TRUE(WriteFileAtomically(path, R"({"schedule": "LR_SCHEDULE_SOMETIMES"})").ok());
  EXPECT_EQ(ReadTrainSpec(path).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadTrainSpec(dir.Join("missing.json")).status().code(), absl::StatusCode::kNotFound);
}

TEST(TrainSpecTest, ThePlanIsTheSpecsBatchingAndStepsEndTheRun) {
  v1::TrainSpec t = Spec();
  auto plan = PlanOptionsFor(t);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->mode, BatchingMode::kPacked);
  EXPECT_EQ(plan->row_tokens, 64);
  EXPECT_EQ(plan->seed, 12345678901234ull);
  EXPECT_EQ(PlanEpochs(t), 2);
  t.set_micro_batch_tokens(100);  // not a multiple of the row
  EXPECT_FALSE(PlanOptionsFor(t).ok());
}

}  // namespace
}  // namespace ssd
