#include "trainer_worker/launcher.h"

#include <glog/logging.h>

#include <chrono>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/util/process_group.h"

namespace ssd {

absl::Status LaunchOptions::Validate() const {
  if (nproc < 1 || nproc > 256)
    return absl::InvalidArgumentError(absl::StrCat("nproc: ", nproc, " is not in [1, 256]"));
  if (master_port < 1 || master_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("master_port: ", master_port, " is not a TCP port"));
  }
  if (binary.empty()) return absl::InvalidArgumentError("binary: must not be empty");
  return absl::OkStatus();
}

std::vector<std::string> RankArgv(const LaunchOptions& o, int rank) {
  std::vector<std::string> argv{o.binary};
  argv.insert(argv.end(), o.args.begin(), o.args.end());
  for (std::string s :
       {std::string("--rank"), std::to_string(rank), std::string("--world-size"), std::to_string(o.nproc),
        std::string("--master-addr"), o.master_addr, std::string("--master-port"), std::to_string(o.master_port),
        std::string("--store-owner"), std::string("external")}) {
    argv.push_back(std::move(s));
  }
  return argv;
}

absl::Status LaunchLocalRanks(const LaunchOptions& o) {
  if (auto s = o.Validate(); !s.ok()) return s;
  std::vector<std::unique_ptr<ProcessGroup>> ranks;
  for (int r = 0; r < o.nproc; ++r) {
    SpawnOptions spawn;
    spawn.argv = RankArgv(o, r);
    absl::StatusOr<std::unique_ptr<ProcessGroup>> rank = ProcessGroup::Spawn(spawn);
    if (!rank.ok()) {
      // The ranks already started are stopped by their destructors.
      return absl::InternalError(absl::StrCat("starting rank ", r, ": ", rank.status().message()));
    }
    ranks.push_back(std::move(*rank));
  }
  LOG(INFO) << "launched " << o.nproc << " ranks, rendezvous at " << o.master_addr << ":" << o.master_port;

  // Waits for every rank. The first failure stops the others: SIGTERM, then
  // SIGKILL after the grace period for a rank stuck in a collective.
  absl::Status first_failure;
  std::vector<bool> seen(ranks.size(), false);
  size_t remaining = ranks.size();
  while (remaining > 0) {
    bool progressed = false;
    for (size_t r = 0; r < ranks.size(); ++r) {
      if (seen[r] || !ranks[r]->Poll()) continue;
      seen[r] = true;
      --remaining;
      progressed = true;
      if (ranks[r]->succeeded() || !first_failure.ok()) continue;
      first_failure = absl::AbortedError(absl::StrCat("rank ", r, " of ", o.nproc, " (pid ", ranks[r]->pid(), ") ",
                                                      ranks[r]->DescribeExit(), "; stopped the other ranks"));
      LOG(ERROR) << first_failure.message();
      std::vector<ProcessGroup*> others;
      for (size_t k = 0; k < ranks.size(); ++k) {
        if (!seen[k]) others.push_back(ranks[k].get());
      }
      StopProcessGroups(others, absl::Seconds(o.grace_s));
    }
    if (!progressed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return first_failure;
}

}  // namespace ssd
