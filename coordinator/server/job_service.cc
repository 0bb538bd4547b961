#include "coordinator/server/job_service.h"

#include <deque>
#include <memory>

#include "common/rpc/status_conversion.h"
#include "coordinator/job_state.h"
#include "coordinator/server/service_util.h"

namespace ssd {

grpc::ServerUnaryReactor* JobServiceImpl::SubmitJob(grpc::CallbackServerContext* ctx,
                                                    const v1::SubmitJobRequest* request,
                                                    v1::SubmitJobResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  std::string peer = ctx->peer();
  executor_->Schedule([this, reactor, request, response, peer] {
    coordinator_->SubmitJob(*request, peer, FinishWith(reactor, response));
  });
  return reactor;
}

grpc::ServerUnaryReactor* JobServiceImpl::GetJob(grpc::CallbackServerContext* ctx, const v1::GetJobRequest* request,
                                                 v1::Job* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  coordinator_->GetJob(request->job_id(), FinishWith(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* JobServiceImpl::ListJobs(grpc::CallbackServerContext* ctx, const v1::ListJobsRequest* request,
                                                   v1::ListJobsResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  coordinator_->ListJobs(*request, FinishWith(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* JobServiceImpl::CancelJob(grpc::CallbackServerContext* ctx,
                                                    const v1::CancelJobRequest* request, v1::Job* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  coordinator_->CancelJob(*request, FinishWith(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* JobServiceImpl::ListWorkers(grpc::CallbackServerContext* ctx,
                                                      const v1::ListWorkersRequest* request,
                                                      v1::ListWorkersResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  coordinator_->ListWorkers(*request, FinishWith(reactor, response));
  return reactor;
}

namespace {

// Streams a job's snapshots. Snapshots queue while a write is in flight; a
// snapshot replaces the queued one before it only when both have the same
// state and round, so a slow client may miss progress ticks but never a
// transition. The stream ends after a terminal state is written.
class WatchReactor : public grpc::ServerWriteReactor<v1::Job> {
 public:
  WatchReactor(Coordinator* coordinator, const std::string& job_id, StreamLimiter::Slot slot)
      : coordinator_(coordinator), slot_(std::move(slot)) {
    state_ = std::make_shared<State>();
    state_->reactor = this;
    std::shared_ptr<State> state = state_;
    auto id = coordinator->Watch(job_id, [state](const v1::Job& job) { Push(state, job); });
    if (!id.ok()) {
      {
        absl::MutexLock lock(&state_->mu);
        state_->finished = state_->finish_called = true;
      }
      Finish(ToGrpcStatus(id.status()));
      return;
    }
    absl::MutexLock lock(&state_->mu);
    state_->watch_id = *id;
  }

  void OnWriteDone(bool ok) override {
    const v1::Job* next = nullptr;
    bool finish = false;
    grpc::Status status = grpc::Status::OK;
    {
      absl::MutexLock lock(&state_->mu);
      state_->writing = false;
      if (state_->finish_called) return;
      if (!ok || state_->finished) {
        status = grpc::Status(grpc::StatusCode::CANCELLED, "the watch was cancelled or the client went away");
        finish = true;
      } else if (IsTerminal(state_->current.state())) {
        finish = true;
      } else if (!state_->queue.empty()) {
        state_->current = std::move(state_->queue.front());
        state_->queue.pop_front();
        state_->writing = true;
        next = &state_->current;
      }
      if (finish) state_->finished = state_->finish_called = true;
    }
    if (finish) {
      Finish(status);
    } else if (next != nullptr) {
      StartWrite(next);
    }
  }

  // A write in flight finishes the call from OnWriteDone instead, so that
  // Finish never races a StartWrite.
  void OnCancel() override {
    bool finish = false;
    {
      absl::MutexLock lock(&state_->mu);
      state_->finished = true;
      if (!state_->writing && !state_->finish_called) finish = state_->finish_called = true;
    }
    if (finish) Finish(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }

  void OnDone() override {
    int64_t id = 0;
    {
      absl::MutexLock lock(&state_->mu);
      state_->reactor = nullptr;
      id = state_->watch_id;
    }
    if (id != 0) coordinator_->Unwatch(id);
    delete this;
  }

 private:
  struct State {
    absl::Mutex mu;
    WatchReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
    int64_t watch_id ABSL_GUARDED_BY(mu) = 0;
    std::deque<v1::Job> queue ABSL_GUARDED_BY(mu);
    v1::Job current ABSL_GUARDED_BY(mu);
    uint64_t newest ABSL_GUARDED_BY(mu) = 0;
    bool writing ABSL_GUARDED_BY(mu) = false;
    bool finished ABSL_GUARDED_BY(mu) = false;       // no more writes
    bool finish_called ABSL_GUARDED_BY(mu) = false;  // Finish() was called
  };

  static void Push(const std::shared_ptr<State>& state, const v1::Job& job) {
    WatchReactor* reactor = nullptr;
    const v1::Job* next = nullptr;
    {
      absl::MutexLock lock(&state->mu);
      if (state->reactor == nullptr || state->finished) return;
      // Snapshots can arrive out of order from different threads.
      if (job.version() != 0 && job.version() <= state->newest) return;
      state->newest = job.version();
      if (!state->queue.empty() && state->queue.back().state() == job.state() &&
          state->queue.back().round() == job.round()) {
        state->queue.back() = job;
      } else {
        state->queue.push_back(job);
      }
      while (state->queue.size() > 256) state->queue.pop_front();
      if (!state->writing) {
        state->current = std::move(state->queue.front());
        state->queue.pop_front();
        state->writing = true;
        next = &state->current;
        reactor = state->reactor;
      }
    }
    if (reactor != nullptr) reactor->StartWrite(next);
  }

  Coordinator* const coordinator_;
  StreamLimiter::Slot slot_;  // given back when the reactor is deleted
  std::shared_ptr<State> state_;
};

}  // namespace

grpc::ServerWriteReactor<v1::Job>* JobServiceImpl::WatchJob(grpc::CallbackServerContext* ctx,
                                                            const v1::WatchJobRequest* request) {
  auto slot = streams_->Acquire(ctx->peer(), "WatchJob");
  if (!slot.ok()) return new RefusedWriter<v1::Job>(ToGrpcStatus(slot.status()));
  return new WatchReactor(coordinator_, request->job_id(), std::move(*slot));
}

}  // namespace ssd
