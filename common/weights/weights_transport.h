// Moving weights between processes: a pipelined push down a chain of
// samplers, and a fetch from one holder.
//
//   pusher ──chunks──► sampler 1 ──same chunks──► sampler 2 ──► ...
//
// PushToChain opens a stream to the first reachable target (sending it the
// rest of the chain as `forward_to`) and streams every chunk; each sampler
// forwards a chunk before it writes and hashes it, so the push time hardly
// grows with the chain. A target that cannot be reached is recorded as a
// failure and the chain goes on without it. Streams are raw byte buffers
// (weights_chunks.h), so the data is never copied on the sending side.
#ifndef SSD_COMMON_WEIGHTS_WEIGHTS_TRANSPORT_H_
#define SSD_COMMON_WEIGHTS_WEIGHTS_TRANSPORT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/weights/weights_receiver.h"
#include "common/weights/weights_source.h"
#include "ssd/v1/sampler.pb.h"

namespace ssd {

using ChannelFactory = std::function<absl::StatusOr<std::shared_ptr<grpc::Channel>>(const std::string& address)>;

// A client-streaming PushWeights call carrying raw buffers.
class PushStream {
 public:
  static std::unique_ptr<PushStream> Open(const std::shared_ptr<grpc::Channel>& channel, int64_t timeout_ms);
  // False once the stream is broken; Finish() then says why.
  bool Write(const grpc::ByteBuffer& buffer);
  absl::StatusOr<v1::PushWeightsResponse> Finish();
  void Cancel() { context_.TryCancel(); }

 private:
  PushStream() = default;
  grpc::ClientContext context_;
  grpc::ByteBuffer response_;
  std::unique_ptr<grpc::ClientWriter<grpc::ByteBuffer>> writer_;
};

// The downstream part of a chain, opened: the stream to the first target
// that took the manifest, and the targets that could not be reached.
struct OpenedChain {
  std::unique_ptr<PushStream> stream;  // null when no target was reachable
  v1::PushTarget target;
  std::vector<v1::PushFailure> failures;
};

// Tries the targets in order; each gets the manifest with the targets after
// it as its forward_to.
OpenedChain OpenChain(const std::vector<v1::PushTarget>& chain,
                      const std::function<grpc::ByteBuffer(const std::vector<v1::PushTarget>&)>& manifest_with,
                      const ChannelFactory& channels, int64_t timeout_ms);

struct PushProgress {
  int64_t bytes_sent = 0;
  int64_t bytes_total = 0;
};

// Pushes `source` down `chain`. The response merges what the chain reports:
// the samplers that installed the version, and every failure on the way.
// `progress` (optional) is called after each chunk.
absl::StatusOr<v1::PushWeightsResponse> PushToChain(const WeightsSource& source,
                                                    const std::vector<v1::PushTarget>& chain,
                                                    const std::string& base_model, const ChannelFactory& channels,
                                                    int64_t timeout_ms,
                                                    const std::function<void(const PushProgress&)>& progress = {});

// Fetches `ref` from the sampler at `channel` into `receiver`.
absl::Status FetchWeights(const std::shared_ptr<grpc::Channel>& channel, const v1::WeightsRef& ref,
                          WeightsReceiver* receiver, int64_t timeout_ms);

}  // namespace ssd

#endif  // SSD_COMMON_WEIGHTS_WEIGHTS_TRANSPORT_H_
