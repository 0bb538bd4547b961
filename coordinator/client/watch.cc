#include "coordinator/client/watch.h"

#include <csignal>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "coordinator/client/job_view.h"
#include "coordinator/job_state.h"

namespace ssd {
namespace {

std::atomic<bool> g_interrupted{false};
void OnSigint(int) { g_interrupted.store(true); }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

absl::StatusOr<int> FollowJob(ClusterClient* client, const std::string& job_id, const WatchOptions& options,
                              std::ostream& out) {
  g_interrupted.store(false);
  struct sigaction sa = {}, old = {};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  struct Restore {
    struct sigaction* old;
    ~Restore() { sigaction(SIGINT, old, nullptr); }
  } restore{&old};

  WatchView view;
  v1::Job last;
  bool have_last = false;
  int drawn_lines = 0;
  int64_t last_line_ms = 0;
  auto on_job = [&](const v1::Job& job) {
    const bool changed = !have_last || job.state() != last.state() || job.round() != last.round();
    last = job;
    have_last = true;
    const int64_t now = NowMs();
    if (options.json) {
      out << ToJson(job) << "\n" << std::flush;
      return;
    }
    if (IsTerminal(job.state())) return;  // the summary below says it
    const std::string text = view.Render(job, now);
    if (options.tty) {
      // Redraw the block in place.
      if (drawn_lines > 0) out << "\x1b[" << drawn_lines << "A";
      int lines = 0;
      for (absl::string_view l : absl::StrSplit(text, '\n')) {
        if (l.empty()) continue;
        out << "\r\x1b[K" << l << "\n";
        ++lines;
      }
      for (int i = lines; i < drawn_lines; ++i) out << "\r\x1b[K\n";
      if (drawn_lines > lines) out << "\x1b[" << (drawn_lines - lines) << "A";
      drawn_lines = lines;
      out << std::flush;
    } else if (changed || now - last_line_ms >= 10000) {
      out << text << std::flush;
      last_line_ms = now;
    }
  };
  // Ctrl-C and the caller's stop flag both end the watch.
  std::atomic<bool> cancel{false};
  std::atomic<bool> done{false};
  std::thread relay([&] {
    while (!done.load()) {
      if (g_interrupted.load() || (options.stop != nullptr && options.stop->load())) cancel.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  struct Join {
    std::atomic<bool>* done;
    std::thread* t;
    ~Join() {
      done->store(true);
      t->join();
    }
  } join{&done, &relay};
  auto failing_since = std::chrono::steady_clock::now();
  for (;;) {
    const absl::Status s = client->Watch(job_id, on_job, &cancel);
    if (cancel.load()) {
      if (!options.json && g_interrupted.load()) {
        out << "\ndetached from " << job_id << " (the job goes on; ssd watch " << job_id << ")\n";
      }
      return kExitDetached;
    }
    if (s.ok() && have_last && IsTerminal(last.state())) break;
    if (!s.ok() && s.code() != absl::StatusCode::kUnavailable) return s;
    if (s.ok()) failing_since = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - failing_since).count() > options.reconnect_s) {
      return s.ok() ? absl::UnavailableError("the watch stream ended before the job did") : s;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (!options.json) {
    out << FormatJobDetails(last, NowMs());
    out << "job " << job_id << " " << JobStateName(last.state()) << "\n" << std::flush;
  }
  return ExitCodeFor(last.state());
}

}  // namespace ssd
