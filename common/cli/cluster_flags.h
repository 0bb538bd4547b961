// Flags shared by the cluster commands: how to reach the coordinator and
// how to secure a connection (TLS, mTLS, the cluster token), with the
// environment as defaults ($SSD_COORDINATOR, $SSD_CERTS, $SSD_TOKEN_FILE,
// $SSD_TLS_CA, $SSD_TLS_CERT, $SSD_TLS_KEY, $SSD_INSECURE=1).
//
// --certs DIR fills in what `ssd certs init` wrote there: a server gets
// server.pem/server.key, a client ca.pem (and client.pem/client.key when
// present, for mTLS); both get the token.
#ifndef SSD_COMMON_CLI_CLUSTER_FLAGS_H_
#define SSD_COMMON_CLI_CLUSTER_FLAGS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/rpc/security.h"
#include "coordinator/client/cluster_client.h"

namespace CLI {
class App;
}

namespace ssd {

std::string Env(const char* name, const std::string& fallback = "");
int64_t WallMs();

struct SecurityFlags {
  std::string certs = Env("SSD_CERTS");
  std::string token_file = Env("SSD_TOKEN_FILE");
  std::string ca = Env("SSD_TLS_CA");
  std::string cert = Env("SSD_TLS_CERT");
  std::string key = Env("SSD_TLS_KEY");
  std::string server_name;
  bool insecure = Env("SSD_INSECURE") == "1";

  // `server`: the flags of a daemon's own port; otherwise a client's.
  void Add(CLI::App* c, bool server);
  absl::StatusOr<SecurityOptions> Resolve(bool server) const;
};

// A worker serves a port and is a client too: one set of flags for both.
struct WorkerSecurityFlags {
  SecurityFlags flags;
  std::string client_cert;  // mTLS to the coordinator, when not from --certs
  std::string client_key;
  void Add(CLI::App* c);
  absl::StatusOr<SecurityOptions> Server() const;
  absl::StatusOr<SecurityOptions> Client() const;
};

struct ClientFlags {
  std::string coordinator = Env("SSD_COORDINATOR", "127.0.0.1:7070");
  SecurityFlags security;
  int64_t timeout_ms = 30000;
  bool json = false;

  void Add(CLI::App* c);
  absl::StatusOr<std::unique_ptr<ClusterClient>> Connect() const;
};

}  // namespace ssd

#endif  // SSD_COMMON_CLI_CLUSTER_FLAGS_H_
