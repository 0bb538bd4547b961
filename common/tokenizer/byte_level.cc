#include "common/tokenizer/byte_level.h"

#include <array>

#include "common/tokenizer/utf8.h"

namespace ssd {
namespace {

struct Tables {
  std::array<std::string, 256> to_unicode;  // byte -> UTF-8 of its code point
  std::array<int, 512> to_byte;             // code point (< 512) -> byte, or -1
  Tables() {
    to_byte.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool keeps = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = keeps ? static_cast<char32_t>(b) : next++;
      AppendUtf8(cp, &to_unicode[b]);
      to_byte[cp] = b;
    }
  }
};

const Tables& GetTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

}  // namespace

void BytesToByteLevel(absl::string_view bytes, std::string* out) {
  const Tables& t = GetTables();
  // Every mapped code point is 1 or 2 UTF-8 bytes: size once, write directly.
  const size_t old = out->size();
  out->resize(old + 2 * bytes.size());
  char* dst = &(*out)[old];
  for (char c : bytes) {
    const std::string& m = t.to_unicode[static_cast<unsigned char>(c)];
    dst[0] = m[0];
    if (m.size() == 2) dst[1] = m[1];
    dst += m.size();
  }
  out->resize(static_cast<size_t>(dst - out->data()));
}

void ByteLevelToBytes(absl::string_view s, std::string* out) {
  const Tables& t = GetTables();
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    const char32_t cp = NextCodePoint(s, &i);
    if (cp < 512 && t.to_byte[cp] >= 0) {
      out->push_back(static_cast<char>(t.to_byte[cp]));
    } else {
      out->append(s.data() + start, i - start);
    }
  }
}

}  // namespace ssd
