// The sampler's gRPC service (ssd.v1.Sampler), on raw byte buffers so that
// weights are never copied on the way through:
//
//   PushWeights: each incoming chunk is forwarded to the next sampler of the
//     chain first, then written to staging and hashed; once every byte is
//     verified the version is installed (the old one served until then). A
//     downstream sampler that drops out is routed around: the samplers after
//     it get the version from this one's installed copy.
//   FetchWeights: streams an installed version to a late joiner.
//
// Chunks are handled on a thread per stream, never in a gRPC reaction.
#ifndef SSD_SAMPLER_WORKER_SAMPLER_SERVICE_H_
#define SSD_SAMPLER_WORKER_SAMPLER_SERVICE_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "common/weights/weights_manifest.h"
#include "common/weights/weights_transport.h"
#include "sampler_worker/weights_store.h"
#include "ssd/v1/sampler.grpc.pb.h"

namespace ssd {

struct SamplerServiceOptions {
  // What one push may carry: bytes over all files, tensors over all files,
  // bytes per chunk message. Over any is RESOURCE_EXHAUSTED.
  int64_t max_total_bytes = int64_t{256} << 30;
  int64_t max_tensors = kDefaultMaxPushTensors;
  int64_t max_chunk_bytes = 16 << 20;
  int64_t forward_timeout_ms = 3600000;
  int queue_depth = 4;  // chunks buffered between the reactor and the worker thread
};

struct SamplerServiceHooks {
  std::function<std::string()> worker_id;
  // Before anything is staged: stale or skipped versions.
  std::function<absl::Status(const v1::WeightsManifest&)> accept;
  // As each staged file completes: config.json's architecture.
  std::function<absl::Status(const v1::WeightsManifest&, const std::string& name, const std::string& path)> check_file;
  // After a version is installed.
  std::function<void(const v1::WeightsRef&)> installed;
};

class SamplerService : public v1::Sampler::WithRawCallbackMethod_PushWeights<
                           v1::Sampler::WithRawCallbackMethod_FetchWeights<v1::Sampler::CallbackService>> {
 public:
  SamplerService(WeightsStore* store, ChannelFactory channels, SamplerServiceHooks hooks,
                 SamplerServiceOptions options);

  grpc::ServerReadReactor<grpc::ByteBuffer>* PushWeights(grpc::CallbackServerContext* ctx,
                                                         grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* FetchWeights(grpc::CallbackServerContext* ctx,
                                                           const grpc::ByteBuffer* request) override;

  // Totals for /metrics.
  int64_t bytes_received() const { return bytes_received_.load(); }
  int64_t pushes_installed() const { return pushes_installed_.load(); }
  int64_t pushes_refused() const { return pushes_refused_.load(); }
  double last_push_gb_per_s() const { return last_gbps_.load(); }

  WeightsStore* store() { return store_; }
  const ChannelFactory& channels() const { return channels_; }
  const SamplerServiceHooks& hooks() const { return hooks_; }
  const SamplerServiceOptions& options() const { return options_; }
  void CountReceived(int64_t n) { bytes_received_ += n; }
  void CountInstalled(double gbps) {
    ++pushes_installed_;
    last_gbps_.store(gbps);
  }
  void CountRefused() { ++pushes_refused_; }

 private:
  WeightsStore* const store_;
  const ChannelFactory channels_;
  const SamplerServiceHooks hooks_;
  const SamplerServiceOptions options_;
  std::atomic<int64_t> bytes_received_{0};
  std::atomic<int64_t> pushes_installed_{0};
  std::atomic<int64_t> pushes_refused_{0};
  std::atomic<double> last_gbps_{0};
};

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_SAMPLER_SERVICE_H_
