#include "common/weights/weights_transport.h"

#include <glog/logging.h>
#include <grpcpp/impl/rpc_method.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/rpc/status_conversion.h"
#include "common/util/status_macros.h"
#include "common/weights/weights_chunks.h"

namespace ssd {

std::unique_ptr<PushStream> PushStream::Open(const std::shared_ptr<grpc::Channel>& channel, int64_t timeout_ms) {
  std::unique_ptr<PushStream> s(new PushStream());
  s->context_.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  static const grpc::internal::RpcMethod kMethod(kPushWeightsMethod, grpc::internal::RpcMethod::CLIENT_STREAMING);
  s->writer_.reset(grpc::internal::ClientWriterFactory<grpc::ByteBuffer>::Create(channel.get(), kMethod, &s->context_,
                                                                                 &s->response_));
  return s;
}

bool PushStream::Write(const grpc::ByteBuffer& buffer) { return writer_->Write(buffer); }

absl::StatusOr<v1::PushWeightsResponse> PushStream::Finish() {
  writer_->WritesDone();
  const grpc::Status s = writer_->Finish();
  if (!s.ok()) return FromGrpcStatus(s);
  v1::PushWeightsResponse r;
  RETURN_IF_ERROR(BufferToProto(response_, &r));
  return r;
}

namespace {

bool ConnectNow(grpc::Channel& channel, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::system_clock::now() + timeout;
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) return false;
    if (!channel.WaitForStateChange(state, deadline)) return false;
    state = channel.GetState(/*try_to_connect=*/true);
  }
  return true;
}

}  // namespace

OpenedChain OpenChain(const std::vector<v1::PushTarget>& chain,
                      const std::function<grpc::ByteBuffer(const std::vector<v1::PushTarget>&)>& manifest_with,
                      const ChannelFactory& channels, int64_t timeout_ms) {
  OpenedChain out;
  for (size_t i = 0; i < chain.size(); ++i) {
    const v1::PushTarget& t = chain[i];
    auto fail = [&](const std::string& why) {
      v1::PushFailure f;
      f.set_worker_id(t.worker_id());
      f.set_address(t.address());
      f.set_reason(why);
      out.failures.push_back(std::move(f));
      LOG(WARNING) << "weights push: skipping " << t.worker_id() << " at " << t.address() << ": " << why;
    };
    auto channel = channels(t.address());
    if (!channel.ok()) {
      fail(std::string(channel.status().message()));
      continue;
    }
    // Connect first, so an unreachable target is skipped at once: a
    // refused connection shows as TRANSIENT_FAILURE without waiting out the
    // deadline.
    if (!ConnectNow(**channel, std::chrono::seconds(5))) {
      fail("cannot connect");
      continue;
    }
    std::unique_ptr<PushStream> s = PushStream::Open(*channel, timeout_ms);
    const std::vector<v1::PushTarget> rest(chain.begin() + static_cast<long>(i) + 1, chain.end());
    if (!s->Write(manifest_with(rest))) {
      auto r = s->Finish();
      fail(r.ok() ? "the stream closed at the manifest" : std::string(r.status().message()));
      continue;
    }
    out.stream = std::move(s);
    out.target = t;
    return out;
  }
  return out;
}

absl::StatusOr<v1::PushWeightsResponse> PushToChain(const WeightsSource& source,
                                                    const std::vector<v1::PushTarget>& chain,
                                                    const std::string& base_model, const ChannelFactory& channels,
                                                    int64_t timeout_ms,
                                                    const std::function<void(const PushProgress&)>& progress) {
  v1::PushWeightsResponse merged;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<v1::PushTarget> remaining = chain;
  auto manifest_with = [&](const std::vector<v1::PushTarget>& rest) {
    return source.ManifestMessage(rest, base_model);
  };
  // A chain broken at its first hop is started again on the rest.
  while (!remaining.empty()) {
    OpenedChain c = OpenChain(remaining, manifest_with, channels, timeout_ms);
    for (v1::PushFailure& f : c.failures) *merged.add_failures() = std::move(f);
    if (c.stream == nullptr) break;
    PushProgress p;
    p.bytes_total = source.manifest().total_bytes();
    bool ok = true;
    for (int64_t i = 0; i < source.num_chunks() && ok; ++i) {
      grpc::ByteBuffer chunk = source.Chunk(i);
      const size_t n = chunk.Length();
      ok = c.stream->Write(chunk);
      p.bytes_sent += static_cast<int64_t>(n);
      if (progress) progress(p);
    }
    auto r = c.stream->Finish();
    // Where in `remaining` the first hop was.
    size_t first = 0;
    while (first < remaining.size() && remaining[first].worker_id() != c.target.worker_id()) ++first;
    if (r.ok()) {
      for (const std::string& id : r->reached()) merged.add_reached(id);
      for (const v1::PushFailure& f : r->failures()) *merged.add_failures() = f;
      merged.set_bytes(merged.bytes() + r->bytes());
      break;
    }
    v1::PushFailure* f = merged.add_failures();
    f->set_worker_id(c.target.worker_id());
    f->set_address(c.target.address());
    f->set_reason(std::string(r.status().message()));
    LOG(WARNING) << "weights push to " << c.target.worker_id() << " failed: " << r.status();
    remaining.erase(remaining.begin(), remaining.begin() + static_cast<long>(first) + 1);
  }
  merged.set_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (merged.reached_size() == 0 && !chain.empty()) {
    std::string why;
    for (const v1::PushFailure& f : merged.failures())
      absl::StrAppend(&why, why.empty() ? "" : "; ", f.worker_id(), ": ", f.reason());
    return absl::UnavailableError(absl::StrCat("the push reached no sampler (", why, ")"));
  }
  return merged;
}

absl::Status FetchWeights(const std::shared_ptr<grpc::Channel>& channel, const v1::WeightsRef& ref,
                          WeightsReceiver* receiver, int64_t timeout_ms) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  static const grpc::internal::RpcMethod kMethod(kFetchWeightsMethod, grpc::internal::RpcMethod::SERVER_STREAMING);
  v1::FetchWeightsRequest req;
  *req.mutable_weights() = ref;
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel.get(), kMethod, &ctx, ProtoToBuffer(req)));
  grpc::ByteBuffer buffer;
  absl::Status error;
  while (reader->Read(&buffer)) {
    auto chunk = ParseChunk(buffer);
    error = chunk.ok() ? receiver->OnChunk(*chunk) : chunk.status();
    if (!error.ok()) {
      ctx.TryCancel();
      break;
    }
  }
  const grpc::Status s = reader->Finish();
  RETURN_IF_ERROR(error);
  RETURN_IF_ERROR(FromGrpcStatus(s));
  return receiver->Finish();
}

}  // namespace ssd
