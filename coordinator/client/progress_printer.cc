#include "coordinator/client/progress_printer.h"

#include "absl/strings/str_split.h"
#include "coordinator/client/api_json.h"
#include "coordinator/job_state.h"

namespace ssd {

ProgressPrinter::ProgressPrinter(std::ostream& out, bool json, bool tty, int64_t line_interval_ms)
    : out_(out), json_(json), tty_(tty), line_interval_ms_(line_interval_ms) {}

void ProgressPrinter::OnJob(const v1::Job& job, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  const bool changed = !last_.has_value() || job.state() != last_->state() || job.round() != last_->round();
  last_ = job;
  if (json_) {
    out_ << ToJson(job) << "\n" << std::flush;
    return;
  }
  if (IsTerminal(job.state())) {  // the caller's summary says it
    pending_ = false;
    return;
  }
  if (!tty_ && !changed) {
    pending_ = true;  // OnTick renders it when a line is due
    return;
  }
  const std::string text = view_.Render(job, now_ms);
  if (tty_) {
    // Redraw the block in place.
    if (drawn_lines_ > 0) out_ << "\x1b[" << drawn_lines_ << "A";
    int lines = 0;
    for (absl::string_view l : absl::StrSplit(text, '\n')) {
      if (l.empty()) continue;
      out_ << "\r\x1b[K" << l << "\n";
      ++lines;
    }
    for (int i = lines; i < drawn_lines_; ++i) out_ << "\r\x1b[K\n";
    if (drawn_lines_ > lines) out_ << "\x1b[" << (drawn_lines_ - lines) << "A";
    drawn_lines_ = lines;
    out_ << std::flush;
  } else {
    out_ << text << std::flush;
    last_line_ms_ = now_ms;
    pending_ = false;
  }
}

void ProgressPrinter::OnTick(int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  if (!pending_ || now_ms - last_line_ms_ < line_interval_ms_) return;
  // Rendered now, so that its times ("in state", ETAs) are the line's.
  out_ << view_.Render(*last_, now_ms) << std::flush;
  pending_ = false;
  last_line_ms_ = now_ms;
}

std::optional<v1::Job> ProgressPrinter::last() const {
  absl::MutexLock lock(&mu_);
  return last_;
}

void ProgressPrinter::Write(const std::string& text) {
  absl::MutexLock lock(&mu_);
  pending_ = false;  // the caller's text ends the progress
  out_ << text << std::flush;
}

}  // namespace ssd
