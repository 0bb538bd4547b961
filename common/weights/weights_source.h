// WeightsSource: one immutable weights version ready to send: its folder
// mapped read-only, its manifest, and its data cut into chunks whose bytes
// alias the mapping (no copies). Thread-safe after Open; buffers it hands
// out keep the mapping alive on their own.
#ifndef SSD_COMMON_WEIGHTS_WEIGHTS_SOURCE_H_
#define SSD_COMMON_WEIGHTS_WEIGHTS_SOURCE_H_

#include <grpcpp/support/byte_buffer.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/util/mapped_file.h"
#include "ssd/v1/sampler.pb.h"

namespace ssd {

class WeightsSource {
 public:
  // `manifest` may be given (already built, e.g. cached); else it is built
  // from the folder.
  static absl::StatusOr<std::shared_ptr<WeightsSource>> Open(const std::string& dir, const v1::WeightsRef& ref,
                                                             int64_t chunk_bytes);

  const v1::WeightsManifest& manifest() const { return manifest_; }
  int64_t num_chunks() const { return static_cast<int64_t>(chunks_.size()); }
  // The first message: the manifest, with `forward_to` and `base_model`.
  grpc::ByteBuffer ManifestMessage(const std::vector<v1::PushTarget>& forward_to, const std::string& base_model) const;
  grpc::ByteBuffer Chunk(int64_t i) const;

 private:
  struct Piece {
    int64_t offset;  // in the concatenation
    size_t file;
    size_t begin;
    size_t size;
  };
  WeightsSource() = default;

  v1::WeightsManifest manifest_;
  std::vector<std::shared_ptr<MappedFile>> files_;
  std::vector<Piece> chunks_;
};

}  // namespace ssd

#endif  // SSD_COMMON_WEIGHTS_WEIGHTS_SOURCE_H_
