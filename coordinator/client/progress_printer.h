// ProgressPrinter: what `ssd watch` writes as snapshots of a job arrive.
//
//   json   one JSON Job per snapshot, as it arrives;
//   tty    every snapshot redraws the progress bars in place;
//   else   (a log or a pipe) a block of bars when the state or the round
//          changes, and otherwise at most one every `line_interval_ms`,
//          rendered by OnTick from the newest snapshot at that moment.
//
// Written from a tick rather than from the first snapshot after the
// interval: snapshots come in bursts (a worker's report, then its next
// lease a moment later), and the first of a burst is seldom the state the
// job settles in. Printing it showed one lease too few nearly every time.
// Thread-safe: snapshots and ticks may come from different threads.
#ifndef SSD_COORDINATOR_CLIENT_PROGRESS_PRINTER_H_
#define SSD_COORDINATOR_CLIENT_PROGRESS_PRINTER_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/client/job_view.h"
#include "ssd/v1/job.pb.h"

namespace ssd {

class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool json, bool tty, int64_t line_interval_ms = 10000);

  // A snapshot arrived.
  void OnJob(const v1::Job& job, int64_t now_ms);
  // Call often (every 50 ms or so): writes the newest snapshot when a line is due.
  void OnTick(int64_t now_ms);
  // The newest snapshot, if any came.
  std::optional<v1::Job> last() const;
  // Writes `text` to the stream, in turn with the progress lines; a line
  // not yet written is dropped (the caller's text ends the progress).
  void Write(const std::string& text);

 private:
  std::ostream& out_;
  const bool json_;
  const bool tty_;
  const int64_t line_interval_ms_;
  mutable absl::Mutex mu_;
  WatchView view_ ABSL_GUARDED_BY(mu_);
  std::optional<v1::Job> last_ ABSL_GUARDED_BY(mu_);
  int drawn_lines_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_line_ms_ ABSL_GUARDED_BY(mu_) = 0;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;  // last_ is newer than the last line written
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_CLIENT_PROGRESS_PRINTER_H_
