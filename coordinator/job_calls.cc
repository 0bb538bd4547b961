// The users' calls (SubmitJob, GetJob, ListJobs, CancelJob, Watch,
// ListWorkers) and job creation, with SubmitJob's request ids and the
// list calls' pages. The workers' calls are in worker_calls.cc.
#include <glog/logging.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/sha256.h"
#include "common/util/status_macros.h"
#include "coordinator/coordinator.h"
#include "coordinator/job_spec.h"
#include "coordinator/job_state.h"
#include "coordinator/problem_set.h"
#include "coordinator/store_schema.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace ssd {

absl::StatusOr<std::string> Coordinator::CreateJob(v1::JobSpec spec, const std::string& peer, bool imported,
                                                   std::vector<v1::Problem> problems) {
  const std::string id = absl::StrFormat("job-%06d", next_job_++);
  PersistCounters();
  JobEntry& e = NewJobEntry(id);
  job_order_.push_back(id);
  const int64_t now = clock_->NowMs();
  e.job.set_id(id);
  *e.job.mutable_spec() = std::move(spec);
  e.job.set_state(v1::JOB_STATE_PENDING);
  e.job.set_round(0);
  e.job.set_created_unix_ms(now);
  e.job.set_updated_unix_ms(now);
  e.job.set_state_since_unix_ms(now);
  e.job.set_submitted_by(peer);
  e.job.set_imported(imported);
  e.job.set_num_problems(static_cast<int64_t>(problems.size()));
  WriteBatch b;
  for (uint32_t i = 0; i < problems.size(); ++i) {
    b.Put(kProblems, ProblemKey(id, kTrainProblems, i), problems[i].SerializeAsString());
    e.problem_index[problems[i].id()] = i;
  }
  e.problems = std::move(problems);
  Write(std::move(b));
  PersistJob(e);
  MarkChanged(e);
  return id;
}

namespace {

absl::Status CheckRequestId(const std::string& id) {
  if (id.size() > 128) return absl::InvalidArgumentError("request_id: longer than 128 bytes");
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return absl::InvalidArgumentError("request_id: only printable ASCII without spaces");
  }
  return absl::OkStatus();
}

// What makes two SubmitJob calls the same request: everything but the id.
std::string RequestDigest(const v1::SubmitJobRequest& request) {
  v1::SubmitJobRequest copy = request;
  copy.clear_request_id();
  std::string bytes;
  google::protobuf::io::StringOutputStream out(&bytes);
  google::protobuf::io::CodedOutputStream coded(&out);
  coded.SetSerializationDeterministic(true);
  copy.SerializeToCodedStream(&coded);
  coded.Trim();
  return Sha256(bytes);
}

}  // namespace

void Coordinator::SubmitJob(const v1::SubmitJobRequest& request, const std::string& peer,
                            Done<v1::SubmitJobResponse> done) {
  if (absl::Status s = CheckRequestId(request.request_id()); !s.ok()) return done(s);
  const std::string digest = request.request_id().empty() ? "" : RequestDigest(request);
  // A retry answers with the job the first call made, once that is durable.
  auto earlier = [&](const internal::SubmitRecord& rec) -> absl::StatusOr<v1::SubmitJobResponse> {
    if (rec.request_sha256() != digest) {
      return absl::AlreadyExistsError(absl::StrCat("request_id ", request.request_id(), " made job ", rec.job_id(),
                                                   " from another request; use a new request_id for a new job"));
    }
    v1::SubmitJobResponse r;
    r.set_job_id(rec.job_id());
    *r.mutable_job() = Snapshot(jobs_.at(rec.job_id()));
    r.set_deduplicated(true);
    return r;
  };
  if (!request.request_id().empty()) {
    Pending pending;
    absl::StatusOr<v1::SubmitJobResponse> result;
    bool seen = false;
    {
      absl::MutexLock lock(&mu_);
      if (auto it = requests_.find(request.request_id()); it != requests_.end()) {
        seen = true;
        result = earlier(it->second);
        pending = EndOp();
      }
    }
    if (seen) return ReplyAfter(std::move(pending), std::move(result), std::move(done));
  }
  // Parsing and reading the problem files happen before taking the lock.
  absl::StatusOr<v1::JobSpec> spec;
  switch (request.spec_case()) {
    case v1::SubmitJobRequest::kSpecYaml: {
      JobSpecParseOptions po;
      po.base_dir = request.base_dir();
      spec = ParseJobSpecYaml(request.spec_yaml(), po);
      break;
    }
    case v1::SubmitJobRequest::kJobSpec:
      spec = request.job_spec();
      if (absl::Status s = ValidateBuiltJobSpec(*spec); !s.ok()) spec = s;
      break;
    default: spec = absl::InvalidArgumentError("spec: set spec_yaml (the YAML text) or job_spec (a complete JobSpec)");
  }
  if (!spec.ok()) return done(spec.status());
  auto templates = TemplatesFor(*spec);
  if (!templates.ok()) return done(templates.status());
  auto problems = LoadTrainProblems(spec->problems(), *templates, options_.max_problems_per_job);
  if (!problems.ok()) return done(problems.status());
  std::vector<v1::Problem> eval;
  if (spec->has_eval()) {
    auto e = LoadEvalProblems(spec->eval(), *templates, options_.max_problems_per_job);
    if (!e.ok()) return done(e.status());
    eval = std::move(*e);
  }
  Pending pending;
  absl::StatusOr<v1::SubmitJobResponse> result;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status h = Health(); !h.ok()) return done(h);
    // Two calls with one request_id may both have parsed: the first to get
    // here makes the job.
    if (auto it = requests_.find(request.request_id()); !request.request_id().empty() && it != requests_.end()) {
      result = earlier(it->second);
      pending = EndOp();
      return ReplyAfter(std::move(pending), std::move(result), std::move(done));
    }
    auto id = CreateJob(std::move(*spec), peer, /*imported=*/false, std::move(*problems));
    if (!id.ok()) return done(id.status());
    JobEntry& e = jobs_.at(*id);
    WriteBatch b;
    for (uint32_t i = 0; i < eval.size(); ++i) {
      b.Put(kProblems, ProblemKey(*id, kEvalProblems, i), eval[i].SerializeAsString());
      eval[i].clear_benchmark_line();
      e.eval_index[eval[i].id()] = i;
    }
    if (!request.request_id().empty()) {
      internal::SubmitRecord& rec = requests_[request.request_id()];
      rec.set_job_id(*id);
      rec.set_request_sha256(digest);
      b.Put(kRequests, request.request_id(), rec.SerializeAsString());
    }
    Write(std::move(b));
    e.job.set_num_eval_problems(static_cast<int64_t>(eval.size()));
    e.eval_problems = std::move(eval);
    PersistJob(e);
    LOG(INFO) << "job " << *id << " submitted by " << peer << ": " << e.problems.size() << " problems, "
              << e.job.spec().rounds() << " round(s)";
    Advance(e);
    v1::SubmitJobResponse r;
    r.set_job_id(*id);
    *r.mutable_job() = Snapshot(e);
    result = std::move(r);
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

namespace {
absl::Status CheckJobId(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("job_id: empty (ssd jobs lists the jobs)");
  if (id.size() > 256) return absl::InvalidArgumentError("job_id: longer than 256 characters");
  return absl::OkStatus();
}
absl::Status NoSuchJob(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("no job \"", id, "\" on this coordinator (ssd jobs lists them)"));
}
}  // namespace

void Coordinator::GetJob(const std::string& job_id, Done<v1::Job> done) {
  if (absl::Status s = CheckJobId(job_id); !s.ok()) return done(s);
  Pending pending;
  absl::StatusOr<v1::Job> result;
  {
    absl::MutexLock lock(&mu_);
    JobEntry* e = FindJob(job_id);
    result = e == nullptr ? absl::StatusOr<v1::Job>(NoSuchJob(job_id)) : Snapshot(*e);
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr absl::string_view kPageTokenPrefix = "after:";

absl::StatusOr<int> PageSize(int32_t requested) {
  if (requested < 0 || requested > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: must be in [0, ", kMaxPageSize, "], got ", requested));
  }
  return requested == 0 ? kDefaultPageSize : requested;
}

// A page token names the last item of the previous page: "after:<id>".
absl::StatusOr<std::string> PageTokenItem(const std::string& token) {
  if (token.empty()) return std::string();
  if (!absl::StartsWith(token, kPageTokenPrefix) || token.size() == kPageTokenPrefix.size()) {
    return absl::InvalidArgumentError("page_token: not a token this coordinator issued (pass next_page_token back)");
  }
  return token.substr(kPageTokenPrefix.size());
}

}  // namespace

void Coordinator::ListJobs(const v1::ListJobsRequest& request, Done<v1::ListJobsResponse> done) {
  absl::StatusOr<int> page_size = PageSize(request.page_size());
  if (!page_size.ok()) return done(page_size.status());
  absl::StatusOr<std::string> after = PageTokenItem(request.page_token());
  if (!after.ok()) return done(after.status());
  std::set<int> states(request.states().begin(), request.states().end());
  Pending pending;
  absl::StatusOr<v1::ListJobsResponse> result;
  {
    absl::MutexLock lock(&mu_);
    auto it = job_order_.rbegin();
    if (!after->empty()) it = std::find(job_order_.rbegin(), job_order_.rend(), *after);
    if (it == job_order_.rend() && !after->empty()) {
      result = absl::InvalidArgumentError(
          absl::StrCat("page_token: names job ", *after, ", which this coordinator does not have"));
    } else {
      if (!after->empty()) ++it;
      v1::ListJobsResponse r;
      for (; it != job_order_.rend(); ++it) {
        const JobEntry& e = jobs_.at(*it);
        if (!states.empty() && states.count(e.job.state()) == 0) continue;
        if (r.jobs_size() == *page_size) {
          r.set_next_page_token(absl::StrCat(kPageTokenPrefix, r.jobs(r.jobs_size() - 1).id()));
          break;
        }
        *r.add_jobs() = Snapshot(e);
      }
      result = std::move(r);
    }
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

void Coordinator::CancelJob(const v1::CancelJobRequest& request, Done<v1::Job> done) {
  if (absl::Status s = CheckJobId(request.job_id()); !s.ok()) return done(s);
  Pending pending;
  absl::StatusOr<v1::Job> result;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status h = Health(); !h.ok()) return done(h);
    JobEntry* e = FindJob(request.job_id());
    if (e == nullptr) {
      result = NoSuchJob(request.job_id());
    } else if (IsTerminal(e->job.state())) {
      result = absl::FailedPreconditionError(
          absl::StrCat("job ", request.job_id(), " is already ", JobStateName(e->job.state())));
    } else {
      const std::string reason = request.reason().empty() ? "cancelled by the user" : request.reason().substr(0, 1000);
      e->job.set_error(reason);
      SetState(*e, v1::JOB_STATE_CANCELLED, e->job.round());
      ReleaseAllLeases(*e);
      LOG(INFO) << "job " << request.job_id() << " cancelled: " << reason;
      result = Snapshot(*e);
    }
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

absl::StatusOr<int64_t> Coordinator::Watch(const std::string& job_id, std::function<void(const v1::Job&)> update) {
  RETURN_IF_ERROR(CheckJobId(job_id));
  int64_t id = 0;
  Pending pending;
  {
    absl::MutexLock lock(&mu_);
    JobEntry* e = FindJob(job_id);
    if (e == nullptr) return NoSuchJob(job_id);
    auto w = std::make_shared<Watcher>();
    w->job_id = job_id;
    w->update = std::move(update);
    id = next_watch_++;
    watchers_[id] = w;
    pending.seq = log_->last_enqueued();
    pending.publish.emplace_back(w, Snapshot(*e));
  }
  AfterDurable(std::move(pending), nullptr);
  return id;
}

void Coordinator::Unwatch(int64_t watch_id) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watch_id);
}

void Coordinator::ListWorkers(const v1::ListWorkersRequest& request, Done<v1::ListWorkersResponse> done) {
  absl::StatusOr<int> page_size = PageSize(request.page_size());
  if (!page_size.ok()) return done(page_size.status());
  absl::StatusOr<std::string> after = PageTokenItem(request.page_token());
  if (!after.ok()) return done(after.status());
  Pending pending;
  v1::ListWorkersResponse r;
  {
    absl::MutexLock lock(&mu_);
    const auto& all = workers_.workers();
    for (auto it = after->empty() ? all.begin() : all.upper_bound(*after); it != all.end(); ++it) {
      const WorkerEntry& w = it->second;
      if (!request.include_gone() && (w.state == v1::WORKER_STATE_DEAD || w.state == v1::WORKER_STATE_LEFT)) continue;
      if (r.workers_size() == *page_size) {
        r.set_next_page_token(absl::StrCat(kPageTokenPrefix, r.workers(r.workers_size() - 1).worker_id()));
        break;
      }
      v1::WorkerStatus* s = r.add_workers();
      *s = workers_.Status(w);
      for (const auto& [job, sid] : w.leases) {
        auto e = jobs_.find(job);
        if (e == jobs_.end()) continue;
        if (const Shard* sh = e->second.leases.Find(sid)) *s->add_leases() = LeaseTable::RefOf(sh->rec);
      }
    }
    pending = EndOp();
  }
  ReplyAfter<v1::ListWorkersResponse>(std::move(pending), std::move(r), std::move(done));
}

}  // namespace ssd
