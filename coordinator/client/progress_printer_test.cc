// ProgressPrinter: which snapshot a log gets, and when; JSON and terminal
// output.
#include "coordinator/client/progress_printer.h"

#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace ssd {
namespace {

v1::Job Evaluating(int leased, int done = 3) {
  v1::Job j;
  j.set_id("job-000001");
  j.set_state(v1::JOB_STATE_EVALUATING);
  j.mutable_spec()->set_rounds(1);
  j.mutable_progress()->set_shards_total(20);
  j.mutable_progress()->set_shards_done(done);
  j.mutable_progress()->set_shards_leased(leased);
  return j;
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ProgressPrinterTest, ALogGetsTheNewestSnapshotWhenALineIsDueNotTheFirstOfABurst) {
  std::ostringstream out;
  ProgressPrinter p(out, /*json=*/false, /*tty=*/false, 10000);
  p.OnJob(Evaluating(2, 0), 0);  // the first snapshot is written at once
  EXPECT_EQ(Count(out.str(), "(2 leased)"), 1);
  // 10 s later a worker reports a shard, then leases its next one.
  p.OnJob(Evaluating(1, 4), 10000);
  p.OnJob(Evaluating(2, 4), 10003);
  EXPECT_EQ(Count(out.str(), "job-000001"), 1) << "written before the tick: " << out.str();
  p.OnTick(10050);
  EXPECT_EQ(Count(out.str(), "job-000001"), 2);
  EXPECT_EQ(Count(out.str(), "(1 leased)"), 0) << out.str();
  EXPECT_EQ(Count(out.str(), "4/20  (2 leased)"), 1) << out.str();
  p.OnTick(10100);  // nothing new since
  EXPECT_EQ(Count(out.str(), "job-000001"), 2);
}

TEST(ProgressPrinterTest, ALogGetsAtMostOneLinePerIntervalButEveryStateChangeAtOnce) {
  std::ostringstream out;
  ProgressPrinter p(out, false, false, 10000);
  p.OnJob(Evaluating(2, 0), 0);
  p.OnJob(Evaluating(2, 5), 4000);
  p.OnTick(9999);
  EXPECT_EQ(Count(out.str(), "job-000001"), 1);
  p.OnTick(10000);
  EXPECT_EQ(Count(out.str(), "5/20"), 1);
  EXPECT_EQ(Count(out.str(), "0:10 in state"), 1) << "rendered at the tick, not at 4 s: " << out.str();
  v1::Job sampling = Evaluating(0, 0);
  sampling.set_state(v1::JOB_STATE_SAMPLING);
  sampling.set_round(1);
  p.OnJob(sampling, 10500);  // a new state: written without waiting
  EXPECT_EQ(Count(out.str(), "SAMPLING"), 1);
}

TEST(ProgressPrinterTest, ATerminalSnapshotDropsTheLineNotYetWrittenAndIsLeftToTheSummary) {
  std::ostringstream out;
  ProgressPrinter p(out, false, false, 10000);
  p.OnJob(Evaluating(2, 0), 0);
  p.OnJob(Evaluating(2, 19), 9000);
  v1::Job done = Evaluating(0, 20);
  done.set_state(v1::JOB_STATE_SUCCEEDED);
  p.OnJob(done, 9500);
  p.OnTick(20000);
  EXPECT_EQ(Count(out.str(), "job-000001"), 1) << out.str();
  ASSERT_TRUE(p.last().has_value());
  EXPECT_EQ(p.last()->state(), v1::JOB_STATE_SUCCEEDED);
  p.Write("job job-000001 SUCCEEDED\n");
  EXPECT_TRUE(absl::EndsWith(out.str(), "job job-000001 SUCCEEDED\n"));
}

TEST(ProgressPrinterTest, JsonWritesEverySnapshotAsItArrives) {
  std::ostringstream out;
  ProgressPrinter p(out, /*json=*/true, false, 10000);
  EXPECT_FALSE(p.last().has_value());
  p.OnJob(Evaluating(1), 0);
  p.OnJob(Evaluating(2), 1);
  v1::Job done = Evaluating(0, 20);
  done.set_state(v1::JOB_STATE_SUCCEEDED);
  p.OnJob(done, 2);
  p.OnTick(50000);
  EXPECT_EQ(Count(out.str(), "\n"), 3);
  EXPECT_EQ(Count(out.str(), "\"shards_leased\":\"1\""), 1) << out.str();
  EXPECT_EQ(Count(out.str(), "\"shards_leased\":\"2\""), 1) << out.str();
  EXPECT_EQ(Count(out.str(), "\"state\":\"SUCCEEDED\""), 1) << out.str();
}

TEST(ProgressPrinterTest, ATerminalRedrawsTheBlockInPlaceForEverySnapshot) {
  std::ostringstream out;
  ProgressPrinter p(out, false, /*tty=*/true, 10000);
  p.OnJob(Evaluating(1), 0);
  const std::string first = out.str();
  EXPECT_EQ(Count(first, "\x1b[3A"), 0);
  p.OnJob(Evaluating(2), 1);  // no interval on a terminal
  const std::string second = out.str().substr(first.size());
  EXPECT_TRUE(absl::StartsWith(second, "\x1b[3A")) << "moves up over the 3 lines drawn";
  EXPECT_EQ(Count(second, "(2 leased)"), 1);
}

}  // namespace
}  // namespace ssd
