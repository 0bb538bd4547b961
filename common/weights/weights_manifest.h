// The manifest of one weights version: which files of a Hugging Face model
// folder travel (config, tokenizer, weights), their sizes, and SHA-256
// digests (per tensor for safetensors files, per file otherwise), so a
// receiver can verify every byte and check the architecture before anything
// is installed.
#ifndef SSD_COMMON_WEIGHTS_WEIGHTS_MANIFEST_H_
#define SSD_COMMON_WEIGHTS_WEIGHTS_MANIFEST_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ssd/v1/sampler.pb.h"

namespace ssd {

// Files copied along with the weights when present.
const std::vector<std::string>& ModelSideFiles();

// Reads `dir` (an HF folder with a single model.safetensors or an index and
// shards) and digests every file.
absl::StatusOr<v1::WeightsManifest> BuildManifest(const std::string& dir, const v1::WeightsRef& ref);

// Structural checks of a received manifest: plain unique file names, sizes
// that add up to total_bytes (at most `max_total_bytes`), digests of 32
// bytes, tensor ranges inside their file, covering it with the header, and
// at most `max_tensors` tensors over all files. Over a limit is
// RESOURCE_EXHAUSTED, anything else malformed INVALID_ARGUMENT.
inline constexpr int64_t kDefaultMaxPushTensors = 1'000'000;
absl::Status ValidateManifest(const v1::WeightsManifest& manifest, int64_t max_total_bytes,
                              int64_t max_tensors = kDefaultMaxPushTensors);

// The architecture fields of two config.json texts must agree (model_type,
// sizes, heads, layers, vocabulary); the error names the first that differs.
absl::Status CheckSameArchitecture(const std::string& base_config_json, const std::string& new_config_json);

std::string HexDigest(const std::string& sha256);

}  // namespace ssd

#endif  // SSD_COMMON_WEIGHTS_WEIGHTS_MANIFEST_H_
