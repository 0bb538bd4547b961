// SHA-256 over OpenSSL: whole buffers, a streaming context, and hex. Used
// for the weight manifests' digests (common/weights) and the workers'
// session secrets, which the coordinator stores only hashed.
#ifndef SSD_COMMON_UTIL_SHA256_H_
#define SSD_COMMON_UTIL_SHA256_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace ssd {

// The 32-byte digest of `bytes`.
std::string Sha256(absl::string_view bytes);

// Lowercase hex of any bytes ("\x01\xab" -> "01ab").
std::string HexEncode(absl::string_view bytes);

// Sha256 as 64 hex characters.
inline std::string Sha256Hex(absl::string_view bytes) { return HexEncode(Sha256(bytes)); }

// Compares two byte strings in time that depends only on their lengths, so
// a caller checking a secret's digest leaks nothing through timing.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// A digest computed over pieces. Not thread-safe. Final() ends it; Reset()
// starts a new one.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  void Update(const void* data, size_t n);
  void Update(absl::string_view bytes) { Update(bytes.data(), bytes.size()); }
  // The 32-byte digest of everything since the last Reset.
  std::string Final();
  void Reset();

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_SHA256_H_
