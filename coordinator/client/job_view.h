// How the CLI shows jobs and workers: tables like kubectl's, job details,
// live progress bars for `ssd watch`. JSON for scripts is api_json.h.
#ifndef SSD_COORDINATOR_CLIENT_JOB_VIEW_H_
#define SSD_COORDINATOR_CLIENT_JOB_VIEW_H_

#include <cstdint>
#include <map>
#include <string>

#include "ssd/v1/job.pb.h"
#include "ssd/v1/job_service.pb.h"
#include "ssd/v1/replay_store.pb.h"

namespace ssd {

std::string FormatJobsTable(const v1::ListJobsResponse& jobs, int64_t now_ms);
std::string FormatJobDetails(const v1::Job& job, int64_t now_ms);
std::string FormatWorkersTable(const v1::ListWorkersResponse& workers, int64_t now_ms);
// "1:02:03", "4:05"
std::string FormatDuration(double seconds);

// Progress of one job as a few lines of bars with rates and ETAs. Keeps
// the recent history it needs to estimate rates the server does not send
// (training steps per second).
class WatchView {
 public:
  std::string Render(const v1::Job& job, int64_t now_ms);

 private:
  struct Point {
    int64_t t_ms = 0;
    int64_t step = 0;
  };
  Point first_step_;
  int32_t step_round_ = -1;
};

// Exit codes of `ssd watch` and `ssd submit` (0 only for SUCCEEDED).
inline constexpr int kExitSucceeded = 0;
inline constexpr int kExitFailed = 3;
inline constexpr int kExitCancelled = 4;
inline constexpr int kExitDetached = 130;
int ExitCodeFor(v1::JobState state);

}  // namespace ssd

#endif  // SSD_COORDINATOR_CLIENT_JOB_VIEW_H_
