// WeightsReceiver: takes the messages of one PushWeights/FetchWeights stream
// in order, writes the files into a staging folder and checks every byte
// against the manifest's digests as it arrives. Nothing is installed here:
// Finish() says whether the staged folder is complete and verified, and the
// caller moves it into place.
//
// Refused, with a status naming what is wrong: a first message that is not
// a manifest, a manifest the `accept` hook turns down (stale or skipped
// version, another architecture), a chunk out of order or past the end, a
// chunk larger than max_chunk_bytes, a digest that does not match, and a
// stream that ends early. Not thread-safe.
#ifndef SSD_COMMON_WEIGHTS_WEIGHTS_RECEIVER_H_
#define SSD_COMMON_WEIGHTS_WEIGHTS_RECEIVER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/util/sha256.h"
#include "common/weights/weights_chunks.h"
#include "common/weights/weights_manifest.h"
#include "ssd/v1/sampler.pb.h"

namespace ssd {

struct WeightsReceiverOptions {
  std::string staging_dir;  // created; the caller removes it on failure
  int64_t max_total_bytes = int64_t{256} << 30;
  int64_t max_tensors = kDefaultMaxPushTensors;
  int64_t max_chunk_bytes = 16 << 20;
  std::function<absl::Status(const v1::WeightsManifest&)> accept;  // may be empty
  // fsync each file as it completes. A receiver whose caller makes the
  // folder durable later (WeightsStore syncs installed versions in the
  // background) turns this off to keep the disk off the critical path.
  bool fsync = true;
  // Called with each file once it is complete and verified (the staged
  // path), e.g. to check config.json's architecture; may be empty.
  std::function<absl::Status(const std::string& name, const std::string& path)> on_file;
};

class WeightsReceiver {
 public:
  explicit WeightsReceiver(WeightsReceiverOptions options);
  ~WeightsReceiver();

  absl::Status OnManifest(const v1::WeightsManifest& manifest);
  absl::Status OnData(int64_t offset, const std::vector<std::pair<const uint8_t*, size_t>>& pieces, size_t bytes);
  // Dispatches a parsed message to the two above.
  absl::Status OnChunk(const ParsedChunk& chunk);
  // Every byte arrived and verified; files fsync'd.
  absl::Status Finish();

  bool has_manifest() const { return have_manifest_; }
  const v1::WeightsManifest& manifest() const { return manifest_; }
  int64_t bytes_received() const { return received_; }

 private:
  absl::Status Feed(const uint8_t* data, size_t n);
  absl::Status StartFile(size_t i);
  absl::Status EndFile();

  const WeightsReceiverOptions options_;
  v1::WeightsManifest manifest_;
  bool have_manifest_ = false;
  int64_t received_ = 0;
  // The file being written.
  size_t file_ = 0;
  int64_t file_pos_ = 0;
  int fd_ = -1;
  Sha256Stream file_hash_;
  // Safetensors: the header's end (known after 8 bytes) and the tensor
  // being hashed.
  bool safetensors_ = false;
  int64_t header_end_ = -1;
  uint8_t length_bytes_[8];
  int tensor_ = -1;
  Sha256Stream tensor_hash_;
};

}  // namespace ssd

#endif  // SSD_COMMON_WEIGHTS_WEIGHTS_RECEIVER_H_
