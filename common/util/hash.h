// FNV-1a, the 64-bit non-cryptographic hash behind every seed and
// fingerprint that must be the same on every machine: the sampler's
// per-prompt RNG key (common/sampling/philox.h), the eval split
// (common/eval/metrics.h), the trainer's dataset fingerprint. Callers chain
// calls to hash several fields: Fnv1a64(b, Fnv1a64(a)).
//
// SHA-256 lives in sha256.h (it needs OpenSSL, which a GPU build without
// the control plane lacks).
#ifndef SSD_COMMON_UTIL_HASH_H_
#define SSD_COMMON_UTIL_HASH_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace ssd {

inline constexpr uint64_t kFnv1aOffsetBasis = 14695981039346656037ull;
inline constexpr uint64_t kFnv1aPrime = 1099511628211ull;

// FNV-1a over `bytes`, continuing from `h` (the offset basis to start).
inline uint64_t Fnv1a64(absl::string_view bytes, uint64_t h = kFnv1aOffsetBasis) {
  for (unsigned char c : bytes) h = (h ^ c) * kFnv1aPrime;
  return h;
}

// FNV-1a over the 8 bytes of `value`, least significant first.
inline uint64_t Fnv1a64Word(uint64_t value, uint64_t h = kFnv1aOffsetBasis) {
  for (int i = 0; i < 8; ++i) h = (h ^ ((value >> (8 * i)) & 0xff)) * kFnv1aPrime;
  return h;
}

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_HASH_H_
