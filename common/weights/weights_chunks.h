// WeightsChunk messages as raw gRPC byte buffers, without copying the data:
// a sender's data chunk is a few header bytes followed by a slice that
// aliases the mapped file; a receiver walks the slices of what arrived. The
// bytes are exactly the protobuf encoding of ssd.v1.WeightsChunk (offset =
// field 2, data = field 3, manifest = field 1), so any protobuf client can
// speak the protocol too.
#ifndef SSD_COMMON_WEIGHTS_WEIGHTS_CHUNKS_H_
#define SSD_COMMON_WEIGHTS_WEIGHTS_CHUNKS_H_

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ssd/v1/sampler.pb.h"

namespace ssd {

inline constexpr char kPushWeightsMethod[] = "/ssd.v1.Sampler/PushWeights";
inline constexpr char kFetchWeightsMethod[] = "/ssd.v1.Sampler/FetchWeights";
inline constexpr int64_t kDefaultWeightsChunkBytes = 4 << 20;

grpc::ByteBuffer ProtoToBuffer(const google::protobuf::Message& message);
absl::Status BufferToProto(const grpc::ByteBuffer& buffer, google::protobuf::Message* message);

// A data chunk at `offset` whose bytes are `data` (not copied); `keepalive`
// is held until the last slice referring to the data is released.
grpc::ByteBuffer DataChunkBuffer(int64_t offset, const uint8_t* data, size_t size,
                                 std::shared_ptr<const void> keepalive);

// What one received WeightsChunk holds. Data pieces point into `slices`.
struct ParsedChunk {
  std::optional<v1::WeightsManifest> manifest;
  int64_t offset = 0;
  bool has_offset = false;
  std::vector<grpc::Slice> slices;  // keeps the pieces alive
  std::vector<std::pair<const uint8_t*, size_t>> data;
  size_t data_bytes = 0;
};

// Parses without copying the data field. Errors name what is malformed.
absl::StatusOr<ParsedChunk> ParseChunk(const grpc::ByteBuffer& buffer);

}  // namespace ssd

#endif  // SSD_COMMON_WEIGHTS_WEIGHTS_CHUNKS_H_
