// Bearer-token authentication, checked in exactly one place: a gRPC
// AuthMetadataProcessor on every server (server_builder.cc installs it), and
// a call-credentials plugin on every client channel.
//
// A call without "authorization: Bearer <token>", or with another token,
// ends with UNAUTHENTICATED before any handler runs, and the server logs one
// line with the method and the reason (never the token). The methods in
// `public_methods` (health probes) need no token.
#ifndef SSD_COMMON_RPC_TOKEN_AUTH_H_
#define SSD_COMMON_RPC_TOKEN_AUTH_H_

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/credentials.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>

namespace ssd {

class TokenAuthProcessor : public grpc::AuthMetadataProcessor {
 public:
  TokenAuthProcessor(std::string token, std::set<std::string> public_methods);

  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

  int64_t rejected() const { return rejected_.load(); }

 private:
  const std::string token_;
  const std::set<std::string> public_methods_;
  std::atomic<int64_t> rejected_{0};
};

// Call credentials that send the token on every call. With `insecure`
// (local-TCP channels) they are allowed without TLS.
std::shared_ptr<grpc::CallCredentials> BearerTokenCredentials(const std::string& token, bool insecure);

}  // namespace ssd

#endif  // SSD_COMMON_RPC_TOKEN_AUTH_H_
