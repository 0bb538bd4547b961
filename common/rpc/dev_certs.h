// `ssd certs init`: a development certificate authority, a server
// certificate, a client certificate (for mTLS) and a cluster token, made with
// OpenSSL's libcrypto (no openssl(1) subprocess).
//
//   DIR/ca.pem  ca.key          the CA (keep ca.key private)
//   DIR/server.pem server.key   SANs: localhost, 127.0.0.1, ::1 and --host names
//   DIR/client.pem client.key   CN "ssd-client", for --tls-cert on workers and CLIs
//   DIR/token                   43 random URL-safe characters (256 bits)
//
// Keys are ECDSA P-256; certificates are SHA-256 signed. Private keys and the
// token are written mode 0600.
#ifndef SSD_COMMON_RPC_DEV_CERTS_H_
#define SSD_COMMON_RPC_DEV_CERTS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ssd {

struct DevCertsOptions {
  std::string out_dir;
  std::vector<std::string> hosts;  // extra DNS names or IP addresses for the server
  int days = 365;
  bool force = false;  // overwrite existing files
  absl::Status Validate() const;
};

absl::Status MakeDevCerts(const DevCertsOptions& options);

// 32 random bytes from the OS CSPRNG, base64url without padding.
absl::StatusOr<std::string> RandomToken();

}  // namespace ssd

#endif  // SSD_COMMON_RPC_DEV_CERTS_H_
