// A worker's credentials on the wire: its id and session secret travel as
// call metadata, never in request bodies (so they are not logged with a
// request, and one mechanism serves unary calls and streams alike). The
// coordinator issues them in RegisterWorkerResponse.credentials; the worker
// attaches them to every later call, and the services read them back here.
#ifndef SSD_COMMON_RPC_WORKER_CREDENTIALS_H_
#define SSD_COMMON_RPC_WORKER_CREDENTIALS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "ssd/v1/worker_service.pb.h"

namespace ssd {

inline constexpr char kWorkerIdMetadata[] = "x-ssd-worker-id";
inline constexpr char kWorkerSessionMetadata[] = "x-ssd-worker-session";

// Adds the credentials to a call about to start.
void AttachWorkerCredentials(const v1::WorkerCredentials& credentials, grpc::ClientContext* context);

// The credentials a call carries: UNAUTHENTICATED naming what is missing
// when it lacks either, or carries one twice.
absl::StatusOr<v1::WorkerCredentials> WorkerCredentialsOf(const grpc::ServerContextBase& context);

// Whether the call carries any credentials (a RegisterWorker that resumes).
bool HasWorkerCredentials(const grpc::ServerContextBase& context);

}  // namespace ssd

#endif  // SSD_COMMON_RPC_WORKER_CREDENTIALS_H_
