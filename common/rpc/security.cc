#include "common/rpc/security.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path, absl::string_view marker) {
  auto text = ReadFileToString(path, 1 << 20);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", text.status().message()));
  if (!absl::StrContains(*text, absl::StrCat("-----BEGIN ", marker))) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", path, " holds no PEM \"", marker, "\" block (ssd certs init makes them)"));
  }
  return *text;
}

}  // namespace

absl::Status SecurityOptions::Validate(bool server) const {
  if (token.empty()) {
    return absl::InvalidArgumentError("--token-file: every RPC needs the cluster token (ssd certs init writes one)");
  }
  if (insecure) return absl::OkStatus();
  if (server) {
    if (cert_file.empty() || key_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-cert and --tls-key: a server needs its certificate and key (or --insecure on loopback)");
    }
    if (require_client_cert && ca_file.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca: mTLS needs the CA that signs client certificates");
    }
  } else {
    if (ca_file.empty()) {
      return absl::InvalidArgumentError("--tls-ca: a client needs the CA that signed the server (or --insecure)");
    }
    if (cert_file.empty() != key_file.empty()) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  auto text = ReadFileToString(path, 64 << 10);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat("--token-file: ", text.status().message()));
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.size() < 16) {
    return absl::InvalidArgumentError(absl::StrCat("--token-file: ", path, " holds a token of ", token.size(),
                                                   " characters; use at least 16 (ssd certs init writes 43)"));
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-file: ", path, ": the token must be printable ASCII without spaces"));
    }
  }
  return token;
}

bool IsLoopbackAddress(absl::string_view host_port) {
  std::string host(host_port);
  if (absl::StartsWith(host, "[")) {
    host = host.substr(1, host.find(']') == std::string::npos ? std::string::npos : host.find(']') - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const SecurityOptions& o) {
  RETURN_IF_ERROR(o.Validate(/*server=*/true));
  if (o.insecure) return grpc::experimental::LocalServerCredentials(LOCAL_TCP);
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain, ReadPem("--tls-cert", o.cert_file, "CERTIFICATE"));
  ASSIGN_OR_RETURN(pair.private_key, ReadPem("--tls-key", o.key_file, ""));
  ssl.pem_key_cert_pairs.push_back(pair);
  if (o.require_client_cert) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem("--tls-client-ca", o.ca_file, "CERTIFICATE"));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    ssl.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  return grpc::SslServerCredentials(ssl);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const SecurityOptions& o) {
  RETURN_IF_ERROR(o.Validate(/*server=*/false));
  if (o.insecure) return grpc::experimental::LocalCredentials(LOCAL_TCP);
  grpc::SslCredentialsOptions ssl;
  ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem("--tls-ca", o.ca_file, "CERTIFICATE"));
  if (!o.cert_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem("--tls-cert", o.cert_file, "CERTIFICATE"));
    ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem("--tls-key", o.key_file, ""));
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace ssd
