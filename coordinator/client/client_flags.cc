#include "coordinator/client/client_flags.h"

#include "CLI/CLI.hpp"
#include "common/util/status_macros.h"

namespace ssd {

void ClientFlags::Add(CLI::App* c) {
  c->add_option("--coordinator", coordinator, "coordinator address host:port ($SSD_COORDINATOR)")
      ->capture_default_str();
  security.Add(c, /*server=*/false);
  c->add_option("--timeout-ms", timeout_ms, "deadline of each call")->capture_default_str();
  c->add_flag("--json", json,
              "print JSON (the protobuf JSON mapping; enum values by their short names) instead of tables");
}

absl::StatusOr<std::unique_ptr<ClusterClient>> ClientFlags::Connect() const {
  ClusterClientOptions o;
  o.channel.target = coordinator;
  ASSIGN_OR_RETURN(o.channel.security, security.Resolve(/*server=*/false));
  o.call_timeout_ms = timeout_ms;
  return ClusterClient::Connect(o);
}

}  // namespace ssd
