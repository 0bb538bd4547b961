#include "common/rpc/worker_credentials.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace ssd {
namespace {

// The one value of `key`, or UNAUTHENTICATED.
absl::StatusOr<std::string> One(const grpc::ServerContextBase& context, const char* key) {
  const auto& md = context.client_metadata();
  auto range = md.equal_range(key);
  if (range.first == range.second) {
    return absl::UnauthenticatedError(absl::StrCat("this call needs the worker's credentials: no ", key,
                                                   " metadata (a worker sends what RegisterWorker returned)"));
  }
  auto next = range.first;
  if (++next != range.second) return absl::UnauthenticatedError(absl::StrCat(key, " metadata given twice"));
  return std::string(range.first->second.data(), range.first->second.size());
}

}  // namespace

void AttachWorkerCredentials(const v1::WorkerCredentials& credentials, grpc::ClientContext* context) {
  context->AddMetadata(kWorkerIdMetadata, credentials.worker_id());
  context->AddMetadata(kWorkerSessionMetadata, credentials.session());
}

absl::StatusOr<v1::WorkerCredentials> WorkerCredentialsOf(const grpc::ServerContextBase& context) {
  v1::WorkerCredentials c;
  absl::StatusOr<std::string> id = One(context, kWorkerIdMetadata);
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> session = One(context, kWorkerSessionMetadata);
  if (!session.ok()) return session.status();
  if (id->empty()) return absl::UnauthenticatedError(absl::StrCat(kWorkerIdMetadata, " metadata is empty"));
  c.set_worker_id(*id);
  c.set_session(*session);
  return c;
}

bool HasWorkerCredentials(const grpc::ServerContextBase& context) {
  const auto& md = context.client_metadata();
  return md.find(kWorkerIdMetadata) != md.end() || md.find(kWorkerSessionMetadata) != md.end();
}

}  // namespace ssd
