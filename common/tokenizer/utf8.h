// UTF-8 helpers for the tokenizer: validation with the offending offset,
// code point iteration, encoding, and lossy repair of decoded bytes.
#ifndef SSD_COMMON_TOKENIZER_UTF8_H_
#define SSD_COMMON_TOKENIZER_UTF8_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace ssd {

constexpr size_t kValidUtf8 = static_cast<size_t>(-1);

// Offset of the first byte that does not start a well-formed UTF-8 sequence
// (overlongs, surrogates and code points past U+10FFFF are malformed), or
// kValidUtf8.
size_t FindInvalidUtf8(absl::string_view s);

// Decodes the code point at s[*i] and advances *i. Precondition: s is valid.
char32_t NextCodePoint(absl::string_view s, size_t* i);

// Appends the UTF-8 encoding of cp.
void AppendUtf8(char32_t cp, std::string* out);

// Replaces each maximal ill-formed subpart of `bytes` with one U+FFFD, as
// Rust's String::from_utf8_lossy (and so Hugging Face decode) does.
std::string Utf8Lossy(absl::string_view bytes);

// Length (0-3) of the suffix of `bytes` that is a well-formed but incomplete
// character: bytes a streaming decoder must hold back until more arrive.
size_t IncompleteUtf8Tail(absl::string_view bytes);

// Unicode White_Space, as Rust's char::is_whitespace.
bool IsUnicodeWhitespace(char32_t cp);

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_UTF8_H_
