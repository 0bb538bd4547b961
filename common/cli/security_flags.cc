#include "common/cli/security_flags.h"

#include "CLI/CLI.hpp"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {

void SecurityFlags::Add(CLI::App* c, bool server) {
  c->add_option("--certs", certs, "folder made by `ssd certs init` ($SSD_CERTS): CA, certificates and token");
  c->add_option("--token-file", token_file, "file holding the cluster token ($SSD_TOKEN_FILE)");
  if (server) {
    c->add_option("--tls-cert", cert, "server certificate chain (PEM)");
    c->add_option("--tls-key", key, "server private key (PEM)");
    c->add_option("--tls-client-ca", ca, "require client certificates signed by this CA (mTLS)");
  } else {
    c->add_option("--tls-ca", ca, "CA that signed the coordinator's certificate ($SSD_TLS_CA)");
    c->add_option("--tls-cert", cert, "client certificate, when the coordinator requires mTLS ($SSD_TLS_CERT)");
    c->add_option("--tls-key", key, "client private key ($SSD_TLS_KEY)");
    c->add_option("--tls-server-name", server_name, "name the server certificate must carry (default: the host)");
  }
  c->add_flag("--insecure", insecure, "plaintext on loopback only, for development ($SSD_INSECURE=1)");
}

absl::StatusOr<SecurityOptions> SecurityFlags::Resolve(bool server) const {
  SecurityOptions s;
  s.insecure = insecure;
  std::string token_path = token_file;
  if (!certs.empty()) {
    if (token_path.empty()) token_path = JoinPath(certs, "token");
    if (server) {
      s.cert_file = JoinPath(certs, "server.pem");
      s.key_file = JoinPath(certs, "server.key");
    } else {
      s.ca_file = JoinPath(certs, "ca.pem");
      if (PathExists(JoinPath(certs, "client.pem"))) {
        s.cert_file = JoinPath(certs, "client.pem");
        s.key_file = JoinPath(certs, "client.key");
      }
    }
  }
  if (!cert.empty()) s.cert_file = cert;
  if (!key.empty()) s.key_file = key;
  if (!ca.empty()) {
    s.ca_file = ca;
    if (server) s.require_client_cert = true;
  }
  s.server_name = server_name;
  if (token_path.empty()) {
    return absl::InvalidArgumentError(
        "--token-file: every RPC needs the cluster token (or --certs DIR from `ssd certs init`)");
  }
  ASSIGN_OR_RETURN(s.token, ReadTokenFile(token_path));
  return s;
}

void WorkerSecurityFlags::Add(CLI::App* c) {
  c->add_option("--certs", flags.certs, "folder made by `ssd certs init` ($SSD_CERTS)");
  c->add_option("--token-file", flags.token_file, "file holding the cluster token ($SSD_TOKEN_FILE)");
  c->add_option("--tls-ca", flags.ca, "CA that signed the coordinator's and the peers' certificates ($SSD_TLS_CA)");
  c->add_option("--tls-cert", flags.cert, "this worker's server certificate (PEM)");
  c->add_option("--tls-key", flags.key, "this worker's server key (PEM)");
  c->add_option("--tls-client-cert", client_cert, "client certificate for mTLS");
  c->add_option("--tls-client-key", client_key, "client key for mTLS");
  c->add_option("--tls-server-name", flags.server_name,
                "name the coordinator's and the peers' certificates must carry (default: the host dialled); "
                "for a cluster sharing one certificate across hosts whose addresses it does not list");
  c->add_flag("--insecure", flags.insecure, "plaintext on loopback only, for development ($SSD_INSECURE=1)");
}

absl::StatusOr<SecurityOptions> WorkerSecurityFlags::Server() const {
  SecurityFlags f = flags;
  f.ca.clear();  // the worker's own port does not require client certificates
  return f.Resolve(/*server=*/true);
}

absl::StatusOr<SecurityOptions> WorkerSecurityFlags::Client() const {
  SecurityFlags f = flags;
  f.cert = client_cert;
  f.key = client_key;
  return f.Resolve(/*server=*/false);
}

}  // namespace ssd
