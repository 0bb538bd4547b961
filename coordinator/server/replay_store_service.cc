#include "coordinator/server/replay_store_service.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/rpc/status_conversion.h"
#include "common/rpc/worker_credentials.h"
#include "coordinator/server/service_util.h"

namespace ssd {
namespace {

// Messages whose commit may still be pending while the next is read.
constexpr int kMaxInFlight = 8;

class AppendReactor : public grpc::ServerReadReactor<v1::AppendRequest> {
 public:
  AppendReactor(Coordinator* coordinator, v1::AppendResponse* response, StreamLimiter::Slot slot,
                v1::WorkerCredentials credentials)
      : coordinator_(coordinator), response_(response), slot_(std::move(slot)) {
    session_.credentials = std::move(credentials);
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::optional<grpc::Status> finish;
      {
        absl::MutexLock lock(&mu_);
        reads_done_ = true;
        finish = FinishStatusLocked();
      }
      if (finish) Finish(*finish);
      return;
    }
    uint64_t seq = 0;
    const absl::Status s = coordinator_->AppendMessage(message_, &session_, &seq);
    bool read_more = false;
    {
      absl::MutexLock lock(&mu_);
      ++in_flight_;
      if (!s.ok()) {
        if (error_.ok()) error_ = s;
      } else if (in_flight_ < kMaxInFlight) {
        read_more = true;
      } else {
        read_paused_ = true;
      }
    }
    // Even a refused message may have staged the samples before the bad
    // one: wait for them before answering.
    coordinator_->log().WhenDurable(seq, [this](const absl::Status& d) { OnDurable(d); });
    if (read_more) StartRead(&message_);
  }

  void OnDone() override { delete this; }
  void OnCancel() override {}

 private:
  void OnDurable(const absl::Status& d) {
    bool read_more = false;
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      --in_flight_;
      if (!d.ok() && error_.ok()) error_ = absl::UnavailableError(absl::StrCat("not durable: ", d.message()));
      if (read_paused_ && error_.ok()) {
        read_paused_ = false;
        read_more = true;
      }
      finish = FinishStatusLocked();
    }
    // Finish() lets gRPC run OnDone(), which deletes this reactor, at once
    // and on any thread: it is called with no lock held and nothing of the
    // reactor is touched after it. (Calling it under mu_ destroyed the mutex
    // while it was held: the load test's coordinator aborted in
    // Mutex::Unlock.)
    if (finish) {
      Finish(*finish);
      return;
    }
    if (read_more) StartRead(&message_);
  }

  // The status to finish with once nothing is in flight and either the
  // client is done or an error ended the stream (after which no more reads
  // are started); nullopt while the stream goes on. Marks it finished.
  std::optional<grpc::Status> FinishStatusLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || in_flight_ > 0) return std::nullopt;
    if (!error_.ok()) {
      finished_ = true;
      return ToGrpcStatus(error_);
    }
    if (!reads_done_) return std::nullopt;
    finished_ = true;
    response_->set_accepted(session_.accepted);
    response_->set_duplicates(session_.duplicates);
    return grpc::Status::OK;
  }

  Coordinator* const coordinator_;
  v1::AppendResponse* const response_;
  StreamLimiter::Slot slot_;
  v1::AppendRequest message_;
  AppendSession session_;  // touched only by OnReadDone, which gRPC serialises
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

// Writes pages produced on the executor until the producer says done.
template <typename Msg>
class PagedWriter : public grpc::ServerWriteReactor<Msg> {
 public:
  // `next` fills one page; it returns false when there is nothing more.
  using Next = std::function<absl::StatusOr<bool>(Msg*)>;
  PagedWriter(Executor* executor, StreamLimiter::Slot slot, Next next)
      : executor_(executor), slot_(std::move(slot)), next_(std::move(next)) {
    Produce();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    Produce();
  }
  void OnCancel() override { cancelled_.store(true); }
  void OnDone() override { delete this; }

 private:
  void Produce() {
    executor_->Schedule([this] {
      if (cancelled_.load()) {
        this->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
        return;
      }
      page_.Clear();
      auto more = next_(&page_);
      if (!more.ok()) {
        this->Finish(ToGrpcStatus(more.status()));
      } else if (!*more) {
        this->Finish(grpc::Status::OK);
      } else {
        this->StartWrite(&page_);
      }
    });
  }

  Executor* const executor_;
  StreamLimiter::Slot slot_;
  const Next next_;
  Msg page_;
  std::atomic<bool> cancelled_{false};
};

class ImportReactor : public grpc::ServerReadReactor<v1::ImportRequest> {
 public:
  ImportReactor(Coordinator* coordinator, Executor* executor, v1::ImportResponse* response, StreamLimiter::Slot slot)
      : coordinator_(coordinator), executor_(executor), response_(response), slot_(std::move(slot)) {
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (ok) {
      if (message_.has_header()) {
        if (have_header_) return Fail(absl::InvalidArgumentError("header: sent twice"));
        header_ = message_.header();
        have_header_ = true;
      } else {
        if (!have_header_) return Fail(absl::InvalidArgumentError("the first Import message must be the header"));
        if (static_cast<int64_t>(data_.size() + message_.jsonl().size()) > ReplayStoreService::kMaxImportBytes) {
          return Fail(absl::ResourceExhaustedError(
              absl::StrCat("import: the file is larger than ", ReplayStoreService::kMaxImportBytes, " bytes")));
        }
        data_.append(message_.jsonl());
      }
      StartRead(&message_);
      return;
    }
    if (!have_header_) return Fail(absl::InvalidArgumentError("import: no header was sent"));
    executor_->Schedule([this] {
      coordinator_->Import(header_, data_, [this](absl::StatusOr<v1::ImportResponse> r) {
        if (r.ok()) *response_ = std::move(*r);
        Finish(ToGrpcStatus(r.status()));
      });
    });
  }
  void OnDone() override { delete this; }

 private:
  void Fail(const absl::Status& s) { Finish(ToGrpcStatus(s)); }

  Coordinator* const coordinator_;
  Executor* const executor_;
  v1::ImportResponse* const response_;
  StreamLimiter::Slot slot_;
  v1::ImportRequest message_;
  v1::ImportHeader header_;
  bool have_header_ = false;
  std::string data_;
};

}  // namespace

grpc::ServerReadReactor<v1::AppendRequest>* ReplayStoreService::Append(grpc::CallbackServerContext* ctx,
                                                                       v1::AppendResponse* response) {
  absl::StatusOr<v1::WorkerCredentials> who = WorkerCredentialsOf(*ctx);
  if (!who.ok()) return new RefusedReader<v1::AppendRequest>(ToGrpcStatus(who.status()));
  auto slot = streams_->Acquire(ctx->peer(), "Append");
  if (!slot.ok()) return new RefusedReader<v1::AppendRequest>(ToGrpcStatus(slot.status()));
  return new AppendReactor(coordinator_, response, std::move(*slot), std::move(*who));
}

grpc::ServerWriteReactor<v1::ScanResponse>* ReplayStoreService::Scan(grpc::CallbackServerContext* ctx,
                                                                     const v1::ScanRequest* request) {
  auto slot = streams_->Acquire(ctx->peer(), "Scan");
  if (!slot.ok()) return new RefusedWriter<v1::ScanResponse>(ToGrpcStatus(slot.status()));
  auto cursor = std::make_shared<ScanCursor>();
  v1::ScanRequest req = *request;
  Coordinator* c = coordinator_;
  return new PagedWriter<v1::ScanResponse>(executor_, std::move(*slot),
                                           [c, req, cursor](v1::ScanResponse* page) -> absl::StatusOr<bool> {
                                             // Skip empty pages (a partition can have none in a page of the round).
                                             while (!cursor->done) {
                                               auto p = c->ScanPage(req, cursor.get());
                                               if (!p.ok()) return p.status();
                                               if (p->samples_size() > 0) {
                                                 *page = std::move(*p);
                                                 return true;
                                               }
                                             }
                                             return false;
                                           });
}

grpc::ServerUnaryReactor* ReplayStoreService::Stats(grpc::CallbackServerContext* ctx, const v1::StatsRequest* request,
                                                    v1::StatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  coordinator_->Stats(*request, FinishWith(reactor, response));
  return reactor;
}

grpc::ServerWriteReactor<v1::ExportChunk>* ReplayStoreService::Export(grpc::CallbackServerContext* ctx,
                                                                      const v1::ExportRequest* request) {
  auto slot = streams_->Acquire(ctx->peer(), "Export");
  if (!slot.ok()) return new RefusedWriter<v1::ExportChunk>(ToGrpcStatus(slot.status()));
  auto cursor = std::make_shared<ScanCursor>();
  v1::ExportRequest req = *request;
  Coordinator* c = coordinator_;
  return new PagedWriter<v1::ExportChunk>(executor_, std::move(*slot),
                                          [c, req, cursor](v1::ExportChunk* chunk) -> absl::StatusOr<bool> {
                                            while (!cursor->done) {
                                              auto text = c->ExportPage(req, cursor.get());
                                              if (!text.ok()) return text.status();
                                              if (!text->empty()) {
                                                chunk->set_jsonl(std::move(*text));
                                                return true;
                                              }
                                            }
                                            return false;
                                          });
}

grpc::ServerReadReactor<v1::ImportRequest>* ReplayStoreService::Import(grpc::CallbackServerContext* ctx,
                                                                       v1::ImportResponse* response) {
  auto slot = streams_->Acquire(ctx->peer(), "Import");
  if (!slot.ok()) return new RefusedReader<v1::ImportRequest>(ToGrpcStatus(slot.status()));
  return new ImportReactor(coordinator_, executor_, response, std::move(*slot));
}

}  // namespace ssd
