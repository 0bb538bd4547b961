#include "sampler_worker/sampler_service.h"

#include <glog/logging.h>

#include <chrono>
#include <deque>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/rpc/status_conversion.h"
#include "common/weights/weights_chunks.h"

namespace ssd {
namespace {

// OnDone normally runs on a gRPC thread; should it ever run inline from
// Finish() on a stream's own thread, that thread cannot join itself.
void JoinOrDetach(std::thread& t) {
  if (t.get_id() == std::this_thread::get_id()) {
    t.detach();
  } else {
    t.join();
  }
}

// One PushWeights stream: the reactor queues chunks, a worker thread
// forwards, stages and verifies them.
class PushReactor : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  PushReactor(SamplerService* service, grpc::ByteBuffer* response) : service_(service), response_(response) {
    thread_ = std::thread([this] { Work(); });
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    bool read_more = false;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        eof_ = true;
        return;
      }
      queue_.push_back(std::move(incoming_));
      incoming_.Clear();
      if (static_cast<int>(queue_.size()) < service_->options().queue_depth && !stopped_) {
        read_more = true;
      } else {
        paused_ = true;
      }
    }
    if (read_more) StartRead(&incoming_);
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }

  void OnDone() override {
    JoinOrDetach(thread_);
    delete this;
  }

 private:
  // The next chunk, or nullopt at the end of the stream.
  std::optional<grpc::ByteBuffer> Next() {
    bool resume = false;
    std::optional<grpc::ByteBuffer> out;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || eof_ || cancelled_; };
      mu_.Await(absl::Condition(&ready));
      if (cancelled_ || queue_.empty()) return std::nullopt;
      out = std::move(queue_.front());
      queue_.pop_front();
      if (paused_ && !stopped_) {
        paused_ = false;
        resume = true;
      }
    }
    if (resume) StartRead(&incoming_);
    return out;
  }

  void End(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      stopped_ = true;
    }
    if (!status.ok()) {
      service_->CountRefused();
      if (!staging_.empty()) service_->store()->Discard(staging_);
      if (downstream_.stream != nullptr) downstream_.stream->Cancel();
      LOG(WARNING) << "weights push refused: " << status.error_message();
    }
    Finish(status);
  }

  void Work() {
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<grpc::ByteBuffer> first = Next();
    if (!first.has_value()) return End(grpc::Status(grpc::StatusCode::CANCELLED, "the push ended before the manifest"));
    auto parsed = ParseChunk(*first);
    if (!parsed.ok()) return End(ToGrpcStatus(parsed.status()));
    if (!parsed->manifest.has_value()) {
      return End(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first PushWeights message must be the manifest"));
    }
    const v1::WeightsManifest manifest = *parsed->manifest;
    const v1::WeightsRef ref = manifest.weights();
    auto staging = service_->store()->NewStaging(ref);
    if (!staging.ok()) return End(ToGrpcStatus(staging.status()));
    staging_ = *staging;
    WeightsReceiverOptions ro;
    ro.staging_dir = staging_;
    ro.max_total_bytes = service_->options().max_total_bytes;
    ro.max_tensors = service_->options().max_tensors;
    ro.max_chunk_bytes = service_->options().max_chunk_bytes;
    ro.fsync = false;  // the store syncs installed versions in the background
    ro.accept = service_->hooks().accept;
    if (service_->hooks().check_file) {
      ro.on_file = [this, &manifest](const std::string& name, const std::string& path) {
        return service_->hooks().check_file(manifest, name, path);
      };
    }
    WeightsReceiver receiver(ro);
    if (absl::Status s = receiver.OnManifest(manifest); !s.ok()) return End(ToGrpcStatus(s));
    // The rest of the chain, before any data, so it runs in step with us.
    const std::vector<v1::PushTarget> forward(manifest.forward_to().begin(), manifest.forward_to().end());
    auto manifest_with = [&](const std::vector<v1::PushTarget>& rest) {
      v1::WeightsChunk c;
      *c.mutable_manifest() = manifest;
      c.mutable_manifest()->clear_forward_to();
      for (const v1::PushTarget& t : rest) *c.mutable_manifest()->add_forward_to() = t;
      return ProtoToBuffer(c);
    };
    if (!forward.empty()) {
      downstream_ = OpenChain(forward, manifest_with, service_->channels(), service_->options().forward_timeout_ms);
    }
    bool downstream_ok = downstream_.stream != nullptr;
    for (;;) {
      std::optional<grpc::ByteBuffer> b = Next();
      if (!b.has_value()) break;
      if (downstream_ok && !downstream_.stream->Write(*b)) downstream_ok = false;
      auto chunk = ParseChunk(*b);
      const absl::Status s = chunk.ok() ? receiver.OnChunk(*chunk) : chunk.status();
      if (!s.ok()) return End(ToGrpcStatus(s));
      service_->CountReceived(static_cast<int64_t>(chunk->data_bytes));
    }
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      cancelled = cancelled_;
    }
    if (cancelled) return End(grpc::Status(grpc::StatusCode::CANCELLED, "the pusher went away; nothing installed"));
    if (absl::Status s = receiver.Finish(); !s.ok()) return End(ToGrpcStatus(s));
    if (absl::Status s = service_->store()->Install(ref, staging_); !s.ok()) return End(ToGrpcStatus(s));
    staging_.clear();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    service_->CountInstalled(seconds > 0 ? manifest.total_bytes() / seconds / 1e9 : 0);
    LOG(INFO) << "installed weights " << ref.job_id() << " v" << ref.version() << " (" << manifest.total_bytes()
              << " bytes in " << seconds << " s)";
    if (service_->hooks().installed) service_->hooks().installed(ref);

    v1::PushWeightsResponse resp;
    resp.add_reached(service_->hooks().worker_id ? service_->hooks().worker_id() : "");
    for (const v1::PushFailure& f : downstream_.failures) *resp.add_failures() = f;
    std::vector<v1::PushTarget> unreached;
    if (downstream_.stream != nullptr) {
      auto r = downstream_.stream->Finish();
      if (r.ok() && downstream_ok) {
        for (const std::string& id : r->reached()) resp.add_reached(id);
        for (const v1::PushFailure& f : r->failures()) *resp.add_failures() = f;
      } else {
        // The next hop broke: push our verified copy to the ones after it.
        v1::PushFailure* f = resp.add_failures();
        f->set_worker_id(downstream_.target.worker_id());
        f->set_address(downstream_.target.address());
        f->set_reason(r.ok() ? "the stream to it broke" : std::string(r.status().message()));
        bool after = false;
        for (const v1::PushTarget& t : forward) {
          if (after) unreached.push_back(t);
          after |= t.worker_id() == downstream_.target.worker_id();
        }
      }
    }
    if (!unreached.empty()) {
      auto src = WeightsSource::Open(service_->store()->Dir(ref), ref, std::max<int64_t>(manifest.chunk_bytes(), 4096));
      if (src.ok()) {
        auto r = PushToChain(**src, unreached, manifest.base_model(), service_->channels(),
                             service_->options().forward_timeout_ms);
        if (r.ok()) {
          for (const std::string& id : r->reached()) resp.add_reached(id);
          for (const v1::PushFailure& f : r->failures()) *resp.add_failures() = f;
        }
      }
    }
    resp.set_bytes(manifest.total_bytes());
    resp.set_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    *response_ = ProtoToBuffer(resp);
    End(grpc::Status::OK);
  }

  SamplerService* const service_;
  grpc::ByteBuffer* const response_;
  grpc::ByteBuffer incoming_;
  std::thread thread_;
  std::string staging_;
  OpenedChain downstream_;

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> queue_ ABSL_GUARDED_BY(mu_);
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// One FetchWeights stream, written from a thread one message at a time.
class FetchReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  FetchReactor(SamplerService* service, const grpc::ByteBuffer* request) : service_(service), request_(*request) {
    thread_ = std::thread([this] { Work(); });
  }
  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    broken_ |= !ok;
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    broken_ = true;
  }
  void OnDone() override {
    JoinOrDetach(thread_);
    delete this;
  }

 private:
  bool Write(const grpc::ByteBuffer& b) {
    {
      absl::MutexLock lock(&mu_);
      if (broken_) return false;
      writing_ = true;
    }
    StartWrite(&b);
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !writing_; };
    mu_.Await(absl::Condition(&done));
    return !broken_;
  }

  void Work() {
    v1::FetchWeightsRequest req;
    if (absl::Status s = BufferToProto(request_, &req); !s.ok()) return Finish(ToGrpcStatus(s));
    const std::string me = service_->hooks().worker_id ? service_->hooks().worker_id() : "this sampler";
    if (!service_->store()->Has(req.weights())) {
      return Finish(
          grpc::Status(grpc::StatusCode::NOT_FOUND,
                       absl::StrCat(me, " does not hold ", req.weights().job_id(), " v", req.weights().version())));
    }
    auto src = WeightsSource::Open(service_->store()->Dir(req.weights()), req.weights(), kDefaultWeightsChunkBytes);
    if (!src.ok()) return Finish(ToGrpcStatus(src.status()));
    grpc::ByteBuffer m = (*src)->ManifestMessage({}, "");
    if (!Write(m)) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the fetcher went away"));
    for (int64_t i = 0; i < (*src)->num_chunks(); ++i) {
      grpc::ByteBuffer c = (*src)->Chunk(i);
      if (!Write(c)) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the fetcher went away"));
    }
    Finish(grpc::Status::OK);
  }

  SamplerService* const service_;
  const grpc::ByteBuffer request_;
  std::thread thread_;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

SamplerService::SamplerService(WeightsStore* store, ChannelFactory channels, SamplerServiceHooks hooks,
                               SamplerServiceOptions options)
    : store_(store), channels_(std::move(channels)), hooks_(std::move(hooks)), options_(options) {}

grpc::ServerReadReactor<grpc::ByteBuffer>* SamplerService::PushWeights(grpc::CallbackServerContext* ctx,
                                                                       grpc::ByteBuffer* response) {
  return new PushReactor(this, response);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* SamplerService::FetchWeights(grpc::CallbackServerContext* ctx,
                                                                         const grpc::ByteBuffer* request) {
  return new FetchReactor(this, request);
}

}  // namespace ssd
