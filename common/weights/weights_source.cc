#include "common/weights/weights_source.h"

#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "common/weights/weights_chunks.h"
#include "common/weights/weights_manifest.h"

namespace ssd {

absl::StatusOr<std::shared_ptr<WeightsSource>> WeightsSource::Open(const std::string& dir, const v1::WeightsRef& ref,
                                                                   int64_t chunk_bytes) {
  if (chunk_bytes < 4096) return absl::InvalidArgumentError("chunk_bytes: at least 4096");
  std::shared_ptr<WeightsSource> s(new WeightsSource());
  ASSIGN_OR_RETURN(s->manifest_, BuildManifest(dir, ref));
  s->manifest_.set_chunk_bytes(chunk_bytes);
  int64_t offset = 0;
  for (const v1::WeightsFile& f : s->manifest_.files()) {
    ASSIGN_OR_RETURN(MappedFile m, MappedFile::Open(JoinPath(dir, f.name())));
    if (static_cast<int64_t>(m.size()) != f.bytes()) {
      return absl::FailedPreconditionError(absl::StrCat(dir, "/", f.name(), " changed while it was being read"));
    }
    const size_t index = s->files_.size();
    s->files_.push_back(std::make_shared<MappedFile>(std::move(m)));
    for (int64_t b = 0; b < f.bytes(); b += chunk_bytes) {
      const size_t size = static_cast<size_t>(std::min<int64_t>(chunk_bytes, f.bytes() - b));
      s->chunks_.push_back(Piece{offset + b, index, static_cast<size_t>(b), size});
    }
    offset += f.bytes();
  }
  return s;
}

grpc::ByteBuffer WeightsSource::ManifestMessage(const std::vector<v1::PushTarget>& forward_to,
                                                const std::string& base_model) const {
  v1::WeightsChunk c;
  *c.mutable_manifest() = manifest_;
  c.mutable_manifest()->set_base_model(base_model);
  for (const v1::PushTarget& t : forward_to) *c.mutable_manifest()->add_forward_to() = t;
  return ProtoToBuffer(c);
}

grpc::ByteBuffer WeightsSource::Chunk(int64_t i) const {
  const Piece& p = chunks_[static_cast<size_t>(i)];
  const std::shared_ptr<MappedFile>& f = files_[p.file];
  return DataChunkBuffer(p.offset, f->data() + p.begin, p.size, f);
}

}  // namespace ssd
