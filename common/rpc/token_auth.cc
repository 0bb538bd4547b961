#include "common/rpc/token_auth.h"

#include <glog/logging.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/util/sha256.h"

namespace ssd {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

class BearerTokenPlugin : public grpc::MetadataCredentialsPlugin {
 public:
  explicit BearerTokenPlugin(std::string token) : header_(absl::StrCat(kBearer, token)) {}
  bool IsBlocking() const override { return false; }
  const char* GetType() const override { return "ssd-bearer-token"; }
  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                           std::multimap<grpc::string, grpc::string>* metadata) override {
    metadata->insert({"authorization", header_});
    return grpc::Status::OK;
  }

 private:
  const std::string header_;
};

std::string Lookup(const grpc::AuthMetadataProcessor::InputMetadata& md, absl::string_view key) {
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

TokenAuthProcessor::TokenAuthProcessor(std::string token, std::set<std::string> public_methods)
    : token_(std::move(token)), public_methods_(std::move(public_methods)) {}

grpc::Status TokenAuthProcessor::Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                                         OutputMetadata* consumed_auth_metadata, OutputMetadata*) {
  const std::string path = Lookup(auth_metadata, ":path");
  if (public_methods_.count(path) > 0) return grpc::Status::OK;
  const std::string header = Lookup(auth_metadata, "authorization");
  const char* reason = nullptr;
  if (header.empty()) {
    reason = "no bearer token (authorization metadata) on the call";
  } else if (!absl::StartsWith(header, kBearer)) {
    reason = "the authorization metadata is not \"Bearer <token>\"";
  } else if (!ConstantTimeEquals(header.substr(kBearer.size()), token_)) {  // every byte, whatever differs
    reason = "wrong bearer token";
  }
  if (reason != nullptr) {
    rejected_.fetch_add(1);
    // Never log the header: a near-miss token is still a secret.
    LOG(WARNING) << "unauthenticated call to " << (path.empty() ? "<unknown method>" : path) << " from "
                 << Lookup(auth_metadata, "user-agent") << ": " << reason;
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        absl::StrCat(reason, "; pass the cluster token with --token-file or SSD_TOKEN_FILE"));
  }
  // Handlers never see the token.
  consumed_auth_metadata->insert({"authorization", header});
  return grpc::Status::OK;
}

std::shared_ptr<grpc::CallCredentials> BearerTokenCredentials(const std::string& token, bool insecure) {
  return grpc::experimental::MetadataCredentialsFromPlugin(std::make_unique<BearerTokenPlugin>(token),
                                                           insecure ? GRPC_SECURITY_NONE : GRPC_PRIVACY_AND_INTEGRITY);
}

}  // namespace ssd
