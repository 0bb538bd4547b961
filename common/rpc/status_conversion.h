// The one place where absl::Status and grpc::Status are converted. Codes map
// one to one (both follow google.rpc.Code); the message is kept as is.
#ifndef SSD_COMMON_RPC_STATUS_CONVERSION_H_
#define SSD_COMMON_RPC_STATUS_CONVERSION_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace ssd {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace ssd

#endif  // SSD_COMMON_RPC_STATUS_CONVERSION_H_
