#include "common/eval/inflate.h"

#include <zlib.h>

#include <climits>

#include "absl/strings/str_cat.h"

namespace ssd {

absl::StatusOr<std::string> Inflate(absl::string_view bytes, InflateFormat format, size_t max_output_bytes) {
  const char* what = format == InflateFormat::kZlib ? "zlib" : "gzip";
  z_stream zs{};
  // windowBits 15 is zlib's own header; +16 selects the gzip wrapper.
  if (inflateInit2(&zs, format == InflateFormat::kZlib ? 15 : 15 + 16) != Z_OK) {
    return absl::InternalError(absl::StrCat(what, ": inflateInit2 failed"));
  }
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  size_t in_left = bytes.size();
  int rc = Z_OK;
  char buf[1 << 16];
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0) {
      const size_t chunk = std::min<size_t>(in_left, UINT_MAX);
      zs.avail_in = static_cast<uInt>(chunk);
      in_left -= chunk;
    }
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string msg = zs.msg ? zs.msg : (rc == Z_BUF_ERROR ? "truncated input" : "corrupt input");
      inflateEnd(&zs);
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", msg, " after ", bytes.size() - in_left - zs.avail_in, " input bytes"));
    }
    const size_t produced = sizeof(buf) - zs.avail_out;
    if (out.size() + produced > max_output_bytes) {
      inflateEnd(&zs);
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": decompressed data exceeds the ", max_output_bytes, "-byte limit"));
    }
    out.append(buf, produced);
    if (rc == Z_OK && produced == 0 && zs.avail_in == 0 && in_left == 0) {
      inflateEnd(&zs);
      return absl::InvalidArgumentError(absl::StrCat(what, ": truncated input (stream does not end)"));
    }
  }
  const size_t trailing = zs.avail_in + in_left;
  inflateEnd(&zs);
  if (trailing != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", trailing, " bytes after the end of the stream"));
  }
  return out;
}

}  // namespace ssd
