#include "common/weights/weights_receiver.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "common/weights/weights_manifest.h"

namespace ssd {
namespace {

bool IsSafetensors(const std::string& name) {
  return name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0;
}

}  // namespace

WeightsReceiver::WeightsReceiver(WeightsReceiverOptions options) : options_(std::move(options)) {}

WeightsReceiver::~WeightsReceiver() {
  if (fd_ >= 0) close(fd_);
}

absl::Status WeightsReceiver::OnManifest(const v1::WeightsManifest& manifest) {
  if (have_manifest_) return absl::InvalidArgumentError("a second manifest in one stream");
  RETURN_IF_ERROR(ValidateManifest(manifest, options_.max_total_bytes, options_.max_tensors));
  if (options_.accept) RETURN_IF_ERROR(options_.accept(manifest));
  manifest_ = manifest;
  have_manifest_ = true;
  RETURN_IF_ERROR(MakeDirs(options_.staging_dir));
  return StartFile(0);
}

absl::Status WeightsReceiver::StartFile(size_t i) {
  file_ = i;
  // Empty files are complete as soon as they start.
  while (file_ < static_cast<size_t>(manifest_.files_size())) {
    const v1::WeightsFile& f = manifest_.files(static_cast<int>(file_));
    const std::string path = JoinPath(options_.staging_dir, f.name());
    fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return absl::InternalError(absl::StrCat("cannot create ", path, ": ", strerror(errno)));
    file_pos_ = 0;
    file_hash_.Reset();
    safetensors_ = IsSafetensors(f.name());
    header_end_ = -1;
    tensor_ = -1;
    if (f.bytes() > 0) return absl::OkStatus();
    RETURN_IF_ERROR(EndFile());
    ++file_;
  }
  return absl::OkStatus();
}

absl::Status WeightsReceiver::EndFile() {
  const v1::WeightsFile& f = manifest_.files(static_cast<int>(file_));
  if (safetensors_ && (header_end_ < 0 || tensor_ < f.tensors_size())) {
    return absl::DataLossError(absl::StrCat(f.name(), ": ended before all its tensors arrived"));
  }
  if (file_hash_.Final() != f.sha256()) {
    return absl::DataLossError(absl::StrCat(f.name(), ": ", safetensors_ ? "header " : "", "checksum mismatch (sha256 ",
                                            HexDigest(f.sha256()).substr(0, 16), "... expected)"));
  }
  if ((options_.fsync && fsync(fd_) != 0) || close(fd_) != 0) {
    fd_ = -1;
    return absl::InternalError(absl::StrCat(f.name(), ": write failed: ", strerror(errno)));
  }
  fd_ = -1;
  if (options_.on_file) return options_.on_file(f.name(), JoinPath(options_.staging_dir, f.name()));
  return absl::OkStatus();
}

absl::Status WeightsReceiver::OnChunk(const ParsedChunk& chunk) {
  if (chunk.manifest.has_value()) {
    if (chunk.data_bytes > 0) return absl::InvalidArgumentError("a chunk with both a manifest and data");
    return OnManifest(*chunk.manifest);
  }
  return OnData(chunk.offset, chunk.data, chunk.data_bytes);
}

absl::Status WeightsReceiver::OnData(int64_t offset, const std::vector<std::pair<const uint8_t*, size_t>>& pieces,
                                     size_t bytes) {
  if (!have_manifest_) return absl::InvalidArgumentError("data before the manifest: the first message must carry it");
  if (static_cast<int64_t>(bytes) > options_.max_chunk_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a chunk of ", bytes, " bytes; the limit is ", options_.max_chunk_bytes));
  }
  if (offset != received_) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk at offset ", offset, " but ", received_, " bytes have arrived (out of order or a gap)"));
  }
  for (const auto& [p, n] : pieces) RETURN_IF_ERROR(Feed(p, n));
  return absl::OkStatus();
}

absl::Status WeightsReceiver::Feed(const uint8_t* data, size_t n) {
  while (n > 0) {
    if (file_ >= static_cast<size_t>(manifest_.files_size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("more data than the manifest's ", manifest_.total_bytes(), " bytes"));
    }
    const v1::WeightsFile& f = manifest_.files(static_cast<int>(file_));
    size_t take = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(n), f.bytes() - file_pos_));
    // Safetensors: stop at the next boundary (length prefix, header end,
    // tensor end) so each piece goes to one digest.
    if (safetensors_) {
      int64_t boundary = f.bytes();
      if (file_pos_ < 8) {
        boundary = 8;
      } else if (file_pos_ < header_end_) {
        boundary = header_end_;
      } else if (tensor_ < f.tensors_size()) {
        boundary = f.tensors(tensor_).end();
      }
      take = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(take), boundary - file_pos_));
    }
    for (size_t done = 0; done < take;) {
      const ssize_t w = write(fd_, data + done, take - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return absl::InternalError(absl::StrCat(f.name(), ": write failed: ", strerror(errno)));
      done += static_cast<size_t>(w);
    }
    if (!safetensors_ || file_pos_ < header_end_ || header_end_ < 0) {
      file_hash_.Update(data, take);
      if (safetensors_ && file_pos_ < 8) std::memcpy(length_bytes_ + file_pos_, data, take);
    } else {
      tensor_hash_.Update(data, take);
    }
    file_pos_ += static_cast<int64_t>(take);
    received_ += static_cast<int64_t>(take);
    data += take;
    n -= take;
    if (safetensors_) {
      if (header_end_ < 0 && file_pos_ == 8) {
        uint64_t len = 0;
        for (int i = 7; i >= 0; --i) len = (len << 8) | length_bytes_[i];
        if (len > static_cast<uint64_t>(f.bytes()) - 8) {
          return absl::InvalidArgumentError(absl::StrCat(f.name(), ": header length ", len, " runs past the file"));
        }
        header_end_ = 8 + static_cast<int64_t>(len);
        // The tensors must tile the data section exactly, so every byte is
        // covered by one digest.
        int64_t cursor = header_end_;
        for (const v1::TensorDigest& t : f.tensors()) {
          if (t.begin() != cursor) {
            return absl::InvalidArgumentError(absl::StrCat(f.name(), ": tensor ", t.name().substr(0, 100),
                                                           " does not start where the previous one ends"));
          }
          cursor = t.end();
        }
        if (cursor != f.bytes()) {
          return absl::InvalidArgumentError(absl::StrCat(f.name(), ": the tensors do not cover the file"));
        }
      }
      // Past the header: finish every tensor that ends here (zero-sized
      // ones included) and start the next.
      while (header_end_ >= 0 && file_pos_ >= header_end_) {
        if (tensor_ < 0) {
          tensor_ = 0;
          tensor_hash_.Reset();
        }
        if (tensor_ >= f.tensors_size() || f.tensors(tensor_).end() != file_pos_) break;
        if (tensor_hash_.Final() != f.tensors(tensor_).sha256()) {
          return absl::DataLossError(
              absl::StrCat(f.name(), ": tensor ", f.tensors(tensor_).name(), " checksum mismatch"));
        }
        ++tensor_;
        tensor_hash_.Reset();
      }
    }
    if (file_pos_ == f.bytes()) {
      RETURN_IF_ERROR(EndFile());
      RETURN_IF_ERROR(StartFile(file_ + 1));
    }
  }
  return absl::OkStatus();
}

absl::Status WeightsReceiver::Finish() {
  if (!have_manifest_) return absl::InvalidArgumentError("the stream ended before the manifest");
  if (file_ < static_cast<size_t>(manifest_.files_size()) || received_ != manifest_.total_bytes()) {
    return absl::DataLossError(absl::StrCat("torn stream: ", received_, " of ", manifest_.total_bytes(),
                                            " bytes arrived; nothing was installed"));
  }
  if (options_.fsync) {
    int dir = open(options_.staging_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      fsync(dir);
      close(dir);
    }
  }
  return absl::OkStatus();
}

}  // namespace ssd
