// EngineBackend: GenerationBackend over the native sampling engine
// (common/sampling): the batch-invariant decoder, so samples do not depend
// on their batch, continuous batching over a paged KV cache, and
// Engine::SwapWeights for a new version of the same model.
#ifndef SSD_SAMPLER_WORKER_ENGINE_BACKEND_H_
#define SSD_SAMPLER_WORKER_ENGINE_BACKEND_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "sampler_worker/generation_backend.h"

namespace ssd {

struct EngineBackendOptions {
  std::string device = "cpu";
  std::string dtype = "auto";  // --dtype: auto, fp32 or bf16 (see ResolveDevice)
  int64_t max_seqs = 32;
  int64_t kv_cache_mb = 512;
};

// Creates the backend (the model loads on the first Use()).
std::unique_ptr<GenerationBackend> MakeEngineBackend(const EngineBackendOptions& options);

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_ENGINE_BACKEND_H_
