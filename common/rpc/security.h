// How a daemon or client secures its gRPC connections: TLS (optionally
// mutual) and a bearer token on every call except health probes.
//
//   server: --tls-cert/--tls-key (its certificate), --tls-client-ca (require
//           client certificates signed by this CA: mTLS), --token-file
//   client: --tls-ca (the CA that signed the server), --tls-cert/--tls-key
//           (its own certificate, for mTLS), --token-file
//
// `insecure` replaces TLS with gRPC's local-TCP credentials: plaintext, and
// only from and to loopback addresses (the server refuses other peers), for
// development on one machine. Tokens are still required.
#ifndef SSD_COMMON_RPC_SECURITY_H_
#define SSD_COMMON_RPC_SECURITY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace ssd {

struct SecurityOptions {
  bool insecure = false;
  std::string ca_file;               // client: verifies the server; server: verifies clients (mTLS)
  std::string cert_file;             // PEM certificate chain of this end
  std::string key_file;              // PEM private key of this end
  bool require_client_cert = false;  // server only: mTLS
  std::string token;                 // the bearer token itself (see ReadTokenFile)
  // Client only: the name the server's certificate must carry, when it is
  // not the host of the target address.
  std::string server_name;

  // `server` selects which files are required. Errors name the flag.
  absl::Status Validate(bool server) const;
};

// Reads a token file: its content without surrounding whitespace. Refuses a
// missing or empty file and tokens shorter than 16 characters.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// True for 127.0.0.0/8, ::1 and "localhost" (with or without a port).
bool IsLoopbackAddress(absl::string_view host_port);

// Builds the credentials; reads and checks the PEM files. The token is
// attached separately (server: TokenAuthProcessor; client: BearerToken).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const SecurityOptions& options);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const SecurityOptions& options);

}  // namespace ssd

#endif  // SSD_COMMON_RPC_SECURITY_H_
