// The GPT-2 byte-level alphabet: every byte maps to one printable code point
// (printable ASCII and Latin-1 map to themselves, the other 68 bytes to
// U+0100 onwards), so byte-level BPE vocabularies are strings of these.
#ifndef SSD_COMMON_TOKENIZER_BYTE_LEVEL_H_
#define SSD_COMMON_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ssd {

// Appends the byte-level form (UTF-8 of the mapped code points) of `bytes`.
void BytesToByteLevel(absl::string_view bytes, std::string* out);

// Appends the bytes a byte-level string stands for. Code points outside the
// alphabet are appended as their own UTF-8 (as Hugging Face's decoder does).
void ByteLevelToBytes(absl::string_view byte_level, std::string* out);

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_BYTE_LEVEL_H_
