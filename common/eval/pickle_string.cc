#include "common/eval/pickle_string.h"

#include <cstdint>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/utf8.h"

namespace ssd {
namespace {

// Opcodes, from CPython's Lib/pickle.py opcode table.
constexpr uint8_t kProto = 0x80;
constexpr uint8_t kFrame = 0x95;
constexpr uint8_t kShortBinUnicode = 0x8c;
constexpr uint8_t kBinUnicode = 'X';
constexpr uint8_t kBinUnicode8 = 0x8d;
constexpr uint8_t kMemoize = 0x94;
constexpr uint8_t kBinPut = 'q';
constexpr uint8_t kLongBinPut = 'r';
constexpr uint8_t kStop = '.';

class Reader {
 public:
  explicit Reader(absl::string_view b) : b_(b) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return b_.size() - pos_; }

  absl::StatusOr<uint64_t> LittleEndian(size_t width, const char* what) {
    if (remaining() < width) {
      return absl::InvalidArgumentError(absl::StrCat("pickle: truncated ", what, " at offset ", pos_, " (needs ", width,
                                                     " bytes, ", remaining(), " left)"));
    }
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) v |= uint64_t{static_cast<unsigned char>(b_[pos_ + i])} << (8 * i);
    pos_ += width;
    return v;
  }

  absl::string_view Take(size_t n) {
    absl::string_view s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  absl::string_view b_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<std::string> UnpickleString(absl::string_view bytes, size_t max_bytes) {
  Reader r(bytes);
  if (r.remaining() < 2 || static_cast<uint8_t>(bytes[0]) != kProto) {
    return absl::InvalidArgumentError("pickle: does not start with PROTO (protocol 2 or newer is required)");
  }
  r.Take(1);
  auto version = r.LittleEndian(1, "PROTO argument");
  if (!version.ok()) return version.status();
  if (*version < 2 || *version > 5) {
    return absl::InvalidArgumentError(absl::StrCat("pickle: protocol ", *version, " is not one of 2..5"));
  }
  std::optional<std::string> value;
  while (true) {
    if (r.remaining() == 0) return absl::InvalidArgumentError("pickle: ends before STOP");
    const size_t at = r.pos();
    const uint8_t op = static_cast<uint8_t>(r.Take(1)[0]);
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("pickle: opcode 0x", absl::Hex(op), " at offset ", at, " ", why));
    };
    switch (op) {
      case kFrame: {
        if (*version < 4) return bad("(FRAME) needs protocol 4");
        auto n = r.LittleEndian(8, "FRAME length");
        if (!n.ok()) return n.status();
        if (*n > r.remaining())
          return bad(absl::StrCat("(FRAME) claims ", *n, " bytes but ", r.remaining(), " remain"));
        break;
      }
      case kShortBinUnicode:
      case kBinUnicode:
      case kBinUnicode8: {
        if (value.has_value()) return bad("is a second value; only a single str is accepted");
        const size_t width = op == kShortBinUnicode ? 1 : op == kBinUnicode ? 4 : 8;
        if (op == kBinUnicode8 && *version < 4) return bad("(BINUNICODE8) needs protocol 4");
        auto n = r.LittleEndian(width, "string length");
        if (!n.ok()) return n.status();
        if (*n > r.remaining())
          return bad(absl::StrCat("claims a ", *n, "-byte string but ", r.remaining(), " remain"));
        if (*n > max_bytes)
          return bad(absl::StrCat("claims a ", *n, "-byte string, over the ", max_bytes, "-byte limit"));
        absl::string_view s = r.Take(static_cast<size_t>(*n));
        const size_t invalid = FindInvalidUtf8(s);
        if (invalid != kValidUtf8) return bad(absl::StrCat("holds invalid UTF-8 at string byte ", invalid));
        value.emplace(s);
        break;
      }
      case kMemoize:
      case kBinPut:
      case kLongBinPut: {
        if (!value.has_value()) return bad("(memo) comes before the value");
        if (op == kMemoize && *version < 4) return bad("(MEMOIZE) needs protocol 4");
        if (op != kMemoize) {
          auto idx = r.LittleEndian(op == kBinPut ? 1 : 4, "memo index");
          if (!idx.ok()) return idx.status();
        }
        break;
      }
      case kStop:
        if (!value.has_value()) return bad("(STOP) comes before any value");
        if (r.remaining() != 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("pickle: ", r.remaining(), " trailing bytes after STOP at offset ", at));
        }
        return std::move(*value);
      default: return bad("is not allowed: only a single pickled str is accepted");
    }
  }
}

}  // namespace ssd
