// Flags that secure a connection (TLS, mTLS, the cluster token), shared by
// every command that serves or calls gRPC, with the environment as
// defaults ($SSD_CERTS, $SSD_TOKEN_FILE, $SSD_TLS_CA, $SSD_TLS_CERT,
// $SSD_TLS_KEY, $SSD_INSECURE=1).
//
// --certs DIR fills in what `ssd certs init` wrote there: a server gets
// server.pem/server.key, a client ca.pem (and client.pem/client.key when
// present, for mTLS); both get the token.
#ifndef SSD_COMMON_CLI_SECURITY_FLAGS_H_
#define SSD_COMMON_CLI_SECURITY_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/cli/cli_util.h"
#include "common/rpc/security.h"

namespace CLI {
class App;
}

namespace ssd {

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

}  // namespace ssd

#endif  // SSD_COMMON_CLI_SECURITY_FLAGS_H_
