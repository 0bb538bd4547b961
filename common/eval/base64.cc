#include "common/eval/base64.h"

#include <array>

#include "absl/strings/str_cat.h"

namespace ssd {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// -1 for bytes outside the alphabet.
std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> t;
  t.fill(-1);
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}

}  // namespace

absl::StatusOr<std::string> Base64Decode(absl::string_view text) {
  static const std::array<int8_t, 256> kTable = MakeDecodeTable();
  if (text.size() % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("base64: length ", text.size(), " is not a multiple of 4"));
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    uint32_t group = 0;
    for (size_t j = 0; j < 4; ++j) {
      const unsigned char c = static_cast<unsigned char>(text[i + j]);
      if (c == '=') {
        // Padding only in the last group, only in its last two places, and
        // nothing but padding after it.
        if (!last || j < 2) {
          return absl::InvalidArgumentError(absl::StrCat("base64: misplaced '=' at offset ", i + j));
        }
        ++pad;
        group <<= 6;
        continue;
      }
      if (pad > 0) return absl::InvalidArgumentError(absl::StrCat("base64: data after '=' at offset ", i + j));
      const int8_t v = kTable[c];
      if (v < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("base64: byte 0x", absl::Hex(c), " at offset ", i + j, " is not in the alphabet"));
      }
      group = (group << 6) | static_cast<uint32_t>(v);
    }
    const char bytes[3] = {static_cast<char>(group >> 16), static_cast<char>(group >> 8), static_cast<char>(group)};
    // Canonical encodings leave the bits below the last byte zero.
    if ((pad == 1 && (group & 0xff) != 0) || (pad == 2 && (group & 0xffff) != 0)) {
      return absl::InvalidArgumentError(absl::StrCat("base64: non-zero padding bits in the group at offset ", i));
    }
    out.append(bytes, 3 - pad);
  }
  return out;
}

std::string Base64Encode(absl::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t group = 0;
    for (size_t j = 0; j < 3; ++j) {
      group = (group << 8) | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0u);
    }
    for (size_t j = 0; j < 4; ++j) {
      out.push_back(j <= n ? kAlphabet[(group >> (18 - 6 * j)) & 63] : '=');
    }
  }
  return out;
}

}  // namespace ssd
