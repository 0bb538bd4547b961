#include "coordinator/client/watch.h"

#include <chrono>
#include <csignal>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "coordinator/client/job_view.h"
#include "coordinator/client/progress_printer.h"
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

  ProgressPrinter printer(out, options.json, options.tty);
  auto on_job = [&](const v1::Job& job) { printer.OnJob(job, NowMs()); };
  // Ctrl-C and the caller's stop flag both end the watch.
  std::atomic<bool> cancel{false};
  std::atomic<bool> done{false};
  std::thread relay([&] {
    while (!done.load()) {
      if (g_interrupted.load() || (options.stop != nullptr && options.stop->load())) cancel.store(true);
      printer.OnTick(NowMs());
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
      if (!options.json && options.announce_detach && g_interrupted.load()) {
        printer.Write(absl::StrCat("\ndetached from ", job_id, " (the job goes on; ssd watch ", job_id, ")\n"));
      }
      return kExitDetached;
    }
    const std::optional<v1::Job> last = printer.last();
    if (s.ok() && last.has_value() && IsTerminal(last->state())) break;
    if (!s.ok() && s.code() != absl::StatusCode::kUnavailable) return s;
    if (s.ok()) failing_since = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - failing_since).count() > options.reconnect_s) {
      return s.ok() ? absl::UnavailableError("the watch stream ended before the job did") : s;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  const v1::Job last = *printer.last();
  if (!options.json) {
    printer.Write(absl::StrCat(FormatJobDetails(last, NowMs()), "job ", job_id, " ", JobStateName(last.state()), "\n"));
  }
  return ExitCodeFor(last.state());
}

}  // namespace ssd
