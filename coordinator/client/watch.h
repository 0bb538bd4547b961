// `ssd watch` (and `ssd submit` without --detach): follows a job until it
// is terminal. Ctrl-C detaches and never cancels the job. A coordinator
// restart is ridden out: the watch reconnects for up to `reconnect_s`.
#ifndef SSD_COORDINATOR_CLIENT_WATCH_H_
#define SSD_COORDINATOR_CLIENT_WATCH_H_

#include <atomic>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "coordinator/client/cluster_client.h"

namespace ssd {

struct WatchOptions {
  bool json = false;  // one JSON Job per line instead of bars
  bool tty = false;   // redraw in place (stdout is a terminal)
  double reconnect_s = 120;
  // When it turns true the watch returns kExitDetached (ssd local: a child died).
  const std::atomic<bool>* stop = nullptr;
  // On Ctrl-C, say that the job goes on and how to watch it again. ssd local
  // turns it off: its job stops with its cluster, and it says so itself.
  bool announce_detach = true;
};

// Returns the exit code: ExitCodeFor(final state), or kExitDetached.
absl::StatusOr<int> FollowJob(ClusterClient* client, const std::string& job_id, const WatchOptions& options,
                              std::ostream& out);

}  // namespace ssd

#endif  // SSD_COORDINATOR_CLIENT_WATCH_H_
