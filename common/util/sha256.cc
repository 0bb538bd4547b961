#include "common/util/sha256.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstdlib>

namespace ssd {

// OpenSSL's EVP interface (SHA256_Init and friends are deprecated since
// OpenSSL 3.0).
struct Sha256Stream::Context {
  Context() : ctx(EVP_MD_CTX_new()) {
    if (ctx == nullptr) std::abort();  // out of memory
  }
  ~Context() { EVP_MD_CTX_free(ctx); }
  EVP_MD_CTX* ctx;
};

std::string Sha256(absl::string_view bytes) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof(out));
}

std::string HexEncode(absl::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

Sha256Stream::Sha256Stream() : ctx_(std::make_unique<Context>()) { Reset(); }
Sha256Stream::~Sha256Stream() = default;

void Sha256Stream::Update(const void* data, size_t n) { EVP_DigestUpdate(ctx_->ctx, data, n); }

std::string Sha256Stream::Final() {
  unsigned char out[SHA256_DIGEST_LENGTH];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx_->ctx, out, &size);
  return std::string(reinterpret_cast<const char*>(out), size);
}

void Sha256Stream::Reset() { EVP_DigestInit_ex(ctx_->ctx, EVP_sha256(), nullptr); }

}  // namespace ssd
