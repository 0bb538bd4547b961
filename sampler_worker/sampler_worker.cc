#include "sampler_worker/sampler_worker.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/rpc/status_conversion.h"
#include "common/rpc/worker_credentials.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "common/weights/weights_manifest.h"
#include "sampler_worker/eval_shard.h"

namespace ssd {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Streams samples to the replay store as they finish. A stream broken by a
// coordinator restart is opened again and every sample of the shard sent
// once more (already stored ones come back as duplicates).
class AppendStreamer {
 public:
  AppendStreamer(WorkerSession* session, const v1::LeaseRef& lease, int64_t timeout_ms, int retries)
      : session_(session), lease_(lease), timeout_ms_(timeout_ms), retries_(retries) {
    Open();
  }

  void Add(v1::Sample sample) {
    sent_.push_back(std::move(sample));
    if (writer_ != nullptr && !Send(sent_.back())) writer_.reset();
  }

  // Every sample durable, or why not.
  absl::Status Finish(int64_t* accepted) {
    for (int attempt = 0;; ++attempt) {
      if (writer_ != nullptr) {
        writer_->WritesDone();
        const grpc::Status s = writer_->Finish();
        writer_.reset();
        if (s.ok()) {
          *accepted = ack_.accepted();
          return absl::OkStatus();
        }
        if (s.error_code() != grpc::StatusCode::UNAVAILABLE || attempt >= retries_) return FromGrpcStatus(s);
        LOG(WARNING) << "append stream broke (" << s.error_message() << "); sending the shard's samples again";
      }
      if (attempt >= retries_) return absl::UnavailableError("the replay store stayed unreachable");
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      Open();
      for (const v1::Sample& s : sent_) {
        if (!Send(s)) break;
      }
    }
  }

 private:
  void Open() {
    ctx_ = std::make_unique<grpc::ClientContext>();
    ctx_->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms_));
    ctx_->set_wait_for_ready(true);
    AttachWorkerCredentials(session_->credentials(), ctx_.get());
    ack_.Clear();
    writer_ = session_->replay_store()->Append(ctx_.get(), &ack_);
    first_ = true;
  }
  bool Send(const v1::Sample& s) {
    v1::AppendRequest m;
    if (first_) {
      *m.mutable_lease() = lease_;
      first_ = false;
    }
    *m.add_samples() = s;
    return writer_->Write(m);
  }

  WorkerSession* const session_;
  const v1::LeaseRef lease_;
  const int64_t timeout_ms_;
  const int retries_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  v1::AppendResponse ack_;
  std::unique_ptr<grpc::ClientWriter<v1::AppendRequest>> writer_;
  bool first_ = true;
  std::vector<v1::Sample> sent_;
};

BackendSettings FromSampling(const v1::SamplingSpec& s, uint64_t seed) {
  BackendSettings b;
  b.temperature = s.temperature();
  b.top_k = s.top_k();
  b.top_p = s.top_p();
  b.min_p = s.min_p();
  b.repetition_penalty = s.repetition_penalty();
  b.max_tokens = s.max_tokens();
  b.min_tokens = s.min_tokens();
  b.seed = seed;
  b.stop.assign(s.stop().begin(), s.stop().end());
  return b;
}

}  // namespace

SamplerWorker::SamplerWorker(const SamplerWorkerOptions& options, GenerationBackend* backend, WeightsStore* store,
                             Sandbox* sandbox)
    : options_(options), backend_(backend), store_(store), sandbox_(sandbox) {}

SamplerWorker::~SamplerWorker() { Stop(); }

std::string SamplerWorker::worker_id() const { return session_ ? session_->credentials().worker_id() : ""; }

SamplerWorkerStats SamplerWorker::stats() const {
  absl::MutexLock lock(&stats_mu_);
  return stats_;
}

void SamplerWorker::Drain() {
  drain_deadline_ms_.store(NowMs() + options_.drain_timeout_ms);
  draining_.store(true);
}

void SamplerWorker::Stop() { stopping_.store(true); }

absl::Status SamplerWorker::Run() {
  WorkerSessionOptions so = options_.session;
  so.registration.set_role(v1::WORKER_ROLE_SAMPLER);
  for (const v1::WeightsRef& r : store_->Held()) *so.registration.add_weights_held() = r;
  ASSIGN_OR_RETURN(session_, WorkerSession::Start(so));
  session_->SetWeightsHeld(store_->Held());
  std::string unhealthy;
  while (!draining_.load() && !stopping_.load()) {
    // An external server that is down takes no lease: the worker keeps
    // heartbeating, and the coordinator leases the shards to others.
    if (absl::Status h = backend_->Health(); !h.ok()) {
      if (unhealthy != h.message()) {
        LOG(WARNING) << "taking no work: " << h;
        session_->SetUnhealthy(std::string(h.message()));
      }
      unhealthy = std::string(h.message());
      {
        absl::MutexLock lock(&stats_mu_);
        stats_.unhealthy = unhealthy;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (!unhealthy.empty()) {
      LOG(INFO) << "the backend is healthy again; taking work";
      unhealthy.clear();
      session_->SetUnhealthy("");
      absl::MutexLock lock(&stats_mu_);
      stats_.unhealthy.clear();
    }
    auto work = session_->Acquire();
    if (!work.ok()) {
      LOG(WARNING) << "AcquireWork: " << work.status();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (work->has_shard()) {
      RunShard(work->shard());
    } else if (work->has_idle()) {
      const v1::Idle& idle = work->idle();
      if (idle.has_wanted() && idle.holders_size() > 0 && !store_->Has(idle.wanted())) {
        if (absl::Status s = Fetch(idle); !s.ok()) LOG(WARNING) << "fetching weights: " << s;
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp<int64_t>(idle.retry_after_ms(), 50, 2000)));
    } else {
      LOG(WARNING) << "a sampler was offered trainer work; ignoring it";
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  if (absl::Status s = session_->Deregister(); !s.ok()) LOG(WARNING) << "Deregister: " << s;
  session_->Shutdown();
  return absl::OkStatus();
}

std::string SamplerWorker::WeightsDir(const v1::ShardLease& lease) const {
  return lease.weights().version() == 0 ? lease.base_model() : store_->Dir(lease.weights());
}

void SamplerWorker::RunShard(const v1::ShardLease& lease) {
  const v1::LeaseRef& ref = lease.lease();
  session_->AddLease(ref);
  std::atomic<bool> cancel{false};
  std::atomic<bool> finished{false};
  // Stops the generation when the lease is revoked or a drain runs out.
  std::thread watcher([&] {
    while (!finished.load()) {
      if (session_->Revoked(ref) || stopping_.load() || (draining_.load() && NowMs() > drain_deadline_ms_.load())) {
        cancel.store(true);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  absl::Status status;
  v1::ReportWorkRequest report;
  *report.mutable_lease() = ref;
  int64_t appended = 0;
  if (lease.weights().version() > 0 && !store_->Has(lease.weights())) {
    status = absl::FailedPreconditionError(
        absl::StrCat(worker_id(), " does not hold ", lease.weights().job_id(), " v", lease.weights().version()));
  } else {
    status = backend_->Use(lease.weights(), WeightsDir(lease));
  }
  if (status.ok()) {
    if (ref.kind() == v1::LEASE_KIND_EVAL) {
      status = Evaluate(lease, &cancel, report.mutable_shard_done());
    } else {
      status = Sample(lease, &cancel, &appended);
      report.mutable_shard_done();
    }
  }
  finished.store(true);
  watcher.join();
  if (status.ok()) {
    status = session_->Report(report);
    if (status.ok()) {
      absl::MutexLock lock(&stats_mu_);
      ++stats_.shards_done;
      stats_.samples_appended += appended;
    } else {
      LOG(WARNING) << "reporting shard " << ref.shard() << " of " << ref.job_id() << ": " << status;
    }
  } else if (cancel.load() || status.code() == absl::StatusCode::kFailedPrecondition ||
             status.code() == absl::StatusCode::kPermissionDenied) {
    // Revoked, drained, or refused as stale: the coordinator already has
    // (or will give) the work to someone else.
    LOG(WARNING) << "dropping shard " << ref.shard() << " of " << ref.job_id() << ": " << status;
    if (status.code() == absl::StatusCode::kFailedPrecondition && !cancel.load()) {
      v1::ReportWorkRequest failed;
      *failed.mutable_lease() = ref;
      failed.mutable_failed()->set_reason(std::string(status.message()));
      (void)session_->Report(failed);
    }
  } else {
    LOG(WARNING) << "shard " << ref.shard() << " of " << ref.job_id() << " failed: " << status;
    v1::ReportWorkRequest failed;
    *failed.mutable_lease() = ref;
    failed.mutable_failed()->set_reason(std::string(status.message()));
    (void)session_->Report(failed);
    absl::MutexLock lock(&stats_mu_);
    ++stats_.shards_failed;
  }
  session_->RemoveLease(ref);
}

absl::Status SamplerWorker::Sample(const v1::ShardLease& lease, const std::atomic<bool>* cancel, int64_t* appended) {
  std::vector<BackendRequest> requests;
  std::map<std::string, const v1::Problem*> problems;
  const BackendSettings settings = FromSampling(lease.sampling(), lease.seed());
  for (const v1::ProblemTask& t : lease.tasks()) {
    BackendRequest r;
    r.problem = &t.problem();
    r.sample_indices.assign(t.sample_indices().begin(), t.sample_indices().end());
    r.settings = settings;
    requests.push_back(std::move(r));
    problems[t.problem().id()] = &t.problem();
  }
  AppendStreamer streamer(session_.get(), lease.lease(), options_.stream_timeout_ms, options_.append_retries);
  bool warned_sizes = false;
  RETURN_IF_ERROR(backend_->Generate(
      requests, lease.enable_thinking(),
      [&](BackendSample b) {
        v1::Sample s;
        if (lease.sft_max_seq_len() > 0) {
          // Trainer ranks plan from these without reading the text.
          auto size = backend_->SizeTrainingConversation(*problems.at(b.problem_id), b.text, lease.sft_max_seq_len(),
                                                         lease.enable_thinking());
          if (size.ok()) {
            s.set_sft_tokens(static_cast<int32_t>(size->tokens));
            s.set_sft_loss_tokens(static_cast<int32_t>(size->loss_tokens));
          } else if (!warned_sizes) {
            warned_sizes = true;
            LOG(WARNING) << "samples of " << lease.lease().job_id() << " are stored without their training size ("
                         << size.status() << "); every trainer rank will read "
                         << "every survivor";
          }
        }
        s.set_problem_id(std::move(b.problem_id));
        s.set_sample_index(b.sample_index);
        s.set_text(std::move(b.text));
        s.set_num_tokens(static_cast<int32_t>(b.num_tokens));
        s.set_finish_reason(b.finish_reason);
        s.set_cumulative_logprob(b.cumulative_logprob);
        s.set_weights_version(static_cast<int32_t>(b.weights_version));
        streamer.Add(std::move(s));
      },
      cancel));
  return streamer.Finish(appended);
}

absl::Status SamplerWorker::Evaluate(const v1::ShardLease& lease, const std::atomic<bool>* cancel,
                                     v1::ShardDone* done) {
  EvalShardStats shard;
  RETURN_IF_ERROR(EvaluateShard(lease, *backend_, *sandbox_, options_.grade, cancel, done, &shard));
  absl::MutexLock lock(&stats_mu_);
  stats_.eval_answers_graded += shard.answers_graded;
  stats_.eval_answers_reused += shard.answers_reused;
  return absl::OkStatus();
}

absl::Status SamplerWorker::AcceptWeights(const v1::WeightsManifest& m) const {
  RETURN_IF_ERROR(CheckJobIdForPath(m.weights().job_id()));
  const int32_t v = m.weights().version();
  const int32_t newest = store_->Newest(m.weights().job_id());
  if (store_->Has(m.weights())) return absl::OkStatus();  // forwarded on; the copy is dropped at install
  if (v < newest) {
    return absl::FailedPreconditionError(absl::StrCat("stale version: ", worker_id(), " holds ", m.weights().job_id(),
                                                      " v", newest, " and was offered v", v));
  }
  if (v > newest + 1) {
    return absl::FailedPreconditionError(absl::StrCat("skipped version: ", worker_id(), " holds ", m.weights().job_id(),
                                                      " v", newest, " and was offered v", v,
                                                      "; versions must arrive in order"));
  }
  return absl::OkStatus();
}

absl::Status SamplerWorker::CheckWeightsFile(const v1::WeightsManifest& m, const std::string& name,
                                             const std::string& path) const {
  if (name != "config.json") return absl::OkStatus();
  if (m.base_model().empty()) {
    return absl::FailedPreconditionError("the push names no base model to check the architecture against");
  }
  auto base = ReadFileToString(JoinPath(m.base_model(), "config.json"), 1 << 20);
  if (!base.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the job's base model config: ", base.status().message()));
  }
  ASSIGN_OR_RETURN(std::string pushed, ReadFileToString(path, 1 << 20));
  return CheckSameArchitecture(*base, pushed);
}

void SamplerWorker::OnInstalled(const v1::WeightsRef& ref) {
  if (session_ != nullptr) session_->SetWeightsHeld(store_->Held());
}

absl::Status SamplerWorker::Fetch(const v1::Idle& idle) {
  absl::Status last = absl::UnavailableError("no holder");
  for (const v1::PushTarget& h : idle.holders()) {
    auto ch = options_.peers(h.address());
    if (!ch.ok()) {
      last = ch.status();
      continue;
    }
    auto staging = store_->NewStaging(idle.wanted());
    if (!staging.ok()) return staging.status();
    WeightsReceiverOptions ro;
    ro.staging_dir = *staging;
    ro.fsync = false;  // the store syncs installed versions in the background
    // A peer's copy was verified when it arrived there; every byte is
    // checked again here against its digests.
    ro.accept = [this](const v1::WeightsManifest& m) { return AcceptWeights(m); };
    WeightsReceiver receiver(ro);
    LOG(INFO) << "fetching " << idle.wanted().job_id() << " v" << idle.wanted().version() << " from " << h.worker_id();
    last = FetchWeights(*ch, idle.wanted(), &receiver, options_.stream_timeout_ms);
    if (last.ok()) last = store_->Install(idle.wanted(), *staging);
    if (last.ok()) {
      OnInstalled(idle.wanted());
      absl::MutexLock lock(&stats_mu_);
      ++stats_.fetches;
      return absl::OkStatus();
    }
    store_->Discard(*staging);
    LOG(WARNING) << "fetch from " << h.worker_id() << " failed: " << last;
  }
  return last;
}

}  // namespace ssd
