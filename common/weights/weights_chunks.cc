#include "common/weights/weights_chunks.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace ssd {
namespace {

void PutVarint(std::string* s, uint64_t v) {
  while (v >= 0x80) {
    s->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s->push_back(static_cast<char>(v));
}

struct Keep {
  std::shared_ptr<const void> ref;
};

void ReleaseKeep(void* p) { delete static_cast<Keep*>(p); }

// Reads across the slices of a buffer.
class Cursor {
 public:
  explicit Cursor(const std::vector<grpc::Slice>& slices) : slices_(slices) { Skip(); }
  bool done() const { return s_ >= slices_.size(); }
  bool Byte(uint8_t* out) {
    if (done()) return false;
    *out = slices_[s_].begin()[pos_++];
    Skip();
    return true;
  }
  bool Varint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!Byte(&b)) return false;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return true;
      }
    }
    return false;
  }
  // The next `n` bytes as pieces of the slices.
  bool Pieces(uint64_t n, std::vector<std::pair<const uint8_t*, size_t>>* out) {
    while (n > 0) {
      if (done()) return false;
      const size_t avail = slices_[s_].size() - pos_;
      const size_t take = static_cast<size_t>(std::min<uint64_t>(avail, n));
      out->emplace_back(slices_[s_].begin() + pos_, take);
      pos_ += take;
      n -= take;
      Skip();
    }
    return true;
  }

 private:
  void Skip() {
    while (s_ < slices_.size() && pos_ >= slices_[s_].size()) {
      ++s_;
      pos_ = 0;
    }
  }
  const std::vector<grpc::Slice>& slices_;
  size_t s_ = 0;
  size_t pos_ = 0;
};

}  // namespace

grpc::ByteBuffer ProtoToBuffer(const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

absl::Status BufferToProto(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return absl::InvalidArgumentError("unreadable message");
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (!message->ParseFromString(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("not a valid ", message->GetTypeName(), " message"));
  }
  return absl::OkStatus();
}

grpc::ByteBuffer DataChunkBuffer(int64_t offset, const uint8_t* data, size_t size,
                                 std::shared_ptr<const void> keepalive) {
  std::string header;
  header.push_back(0x10);  // field 2, varint
  PutVarint(&header, static_cast<uint64_t>(offset));
  header.push_back(0x1a);  // field 3, length-delimited
  PutVarint(&header, size);
  grpc::Slice slices[2] = {
      grpc::Slice(header.data(), header.size()),
      grpc::Slice(const_cast<uint8_t*>(data), size, ReleaseKeep, new Keep{std::move(keepalive)}),
  };
  return grpc::ByteBuffer(slices, 2);
}

absl::StatusOr<ParsedChunk> ParseChunk(const grpc::ByteBuffer& buffer) {
  ParsedChunk out;
  if (!buffer.Dump(&out.slices).ok()) return absl::InvalidArgumentError("chunk: unreadable message");
  Cursor c(out.slices);
  while (!c.done()) {
    uint64_t tag = 0;
    if (!c.Varint(&tag)) return absl::InvalidArgumentError("chunk: truncated field tag");
    const uint64_t field = tag >> 3, wire = tag & 7;
    if (field == 2 && wire == 0) {
      uint64_t v = 0;
      if (!c.Varint(&v) || v > (uint64_t{1} << 62)) return absl::InvalidArgumentError("chunk: bad offset");
      out.offset = static_cast<int64_t>(v);
      out.has_offset = true;
    } else if ((field == 1 || field == 3) && wire == 2) {
      uint64_t len = 0;
      if (!c.Varint(&len)) return absl::InvalidArgumentError("chunk: truncated length");
      std::vector<std::pair<const uint8_t*, size_t>> pieces;
      if (!c.Pieces(len, &pieces)) {
        return absl::InvalidArgumentError(absl::StrCat("chunk: field ", field, " says ", len, " bytes; fewer arrived"));
      }
      if (field == 3) {
        for (auto& p : pieces) out.data.push_back(p);
        out.data_bytes += len;
      } else {
        std::string bytes;
        for (auto& p : pieces) bytes.append(reinterpret_cast<const char*>(p.first), p.second);
        v1::WeightsManifest m;
        if (!m.ParseFromString(bytes)) return absl::InvalidArgumentError("chunk: the manifest does not parse");
        out.manifest = std::move(m);
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("chunk: unexpected field ", field, " (wire type ", wire, ")"));
    }
  }
  return out;
}

}  // namespace ssd
