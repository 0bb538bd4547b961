// How a user command reaches the coordinator: its address ($SSD_COORDINATOR),
// the connection's security (common/cli/security_flags.h), a deadline per
// call and the output format.
#ifndef SSD_COORDINATOR_CLIENT_CLIENT_FLAGS_H_
#define SSD_COORDINATOR_CLIENT_CLIENT_FLAGS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/cli/cli_util.h"
#include "common/cli/security_flags.h"
#include "coordinator/client/cluster_client.h"

namespace CLI {
class App;
}

namespace ssd {

struct ClientFlags {
  std::string coordinator = Env("SSD_COORDINATOR", "127.0.0.1:7070");
  SecurityFlags security;
  int64_t timeout_ms = 30000;
  bool json = false;

  void Add(CLI::App* c);
  absl::StatusOr<std::unique_ptr<ClusterClient>> Connect() const;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_CLIENT_CLIENT_FLAGS_H_
