// What the coordinator's gRPC services share: finishing a unary call from a
// domain callback, and streaming calls refused before they start.
#ifndef SSD_COORDINATOR_SERVER_SERVICE_UTIL_H_
#define SSD_COORDINATOR_SERVER_SERVICE_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <utility>

#include "absl/status/statusor.h"
#include "common/rpc/status_conversion.h"

namespace ssd {

// A streaming call refused before it started (over the stream limit, no
// credentials): it finishes at once with `status`.
template <typename Msg>
class RefusedWriter : public grpc::ServerWriteReactor<Msg> {
 public:
  explicit RefusedWriter(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};
template <typename Msg>
class RefusedReader : public grpc::ServerReadReactor<Msg> {
 public:
  explicit RefusedReader(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

// Finishes `reactor` with `result`, moving the value into `response`.
template <typename T>
std::function<void(absl::StatusOr<T>)> FinishWith(grpc::ServerUnaryReactor* reactor, T* response) {
  return [reactor, response](absl::StatusOr<T> result) {
    if (result.ok()) *response = std::move(*result);
    reactor->Finish(ToGrpcStatus(result.status()));
  };
}

}  // namespace ssd

#endif  // SSD_COORDINATOR_SERVER_SERVICE_UTIL_H_
