// The replay store's calls (ReplayStore service): the Coordinator checks
// the caller, the lease and the job under its lock; the SampleStore
// (sample_store.h) validates, indexes, scans and converts the samples.
#include <glog/logging.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/metrics/metrics_registry.h"
#include "common/util/status_macros.h"
#include "coordinator/coordinator.h"
#include "coordinator/job_spec.h"
#include "coordinator/job_state.h"
#include "coordinator/store_schema.h"

namespace ssd {

absl::Status Coordinator::AppendMessage(const v1::AppendRequest& message, AppendSession* session, uint64_t* seq) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Health());
  ++session->messages;
  if (!session->started) {
    if (!message.has_lease()) return absl::InvalidArgumentError("the first Append message must carry the lease");
    session->lease = message.lease();
    session->started = true;
  } else if (message.has_lease() && message.lease().SerializeAsString() != session->lease.SerializeAsString()) {
    return absl::InvalidArgumentError("lease: one Append stream carries the samples of one lease");
  }
  auto fail = [&](absl::Status s) {
    if (appends_refused_ != nullptr) appends_refused_->Increment();
    return s;
  };
  auto w = workers_.Authenticate(session->credentials.worker_id(), session->credentials.session());
  if (!w.ok()) return fail(w.status());
  auto checked = CheckLease(session->lease, **w);
  if (!checked.ok()) return fail(checked.status());
  JobEntry& e = *checked->first;
  Shard& s = *checked->second;
  if (s.rec.kind() != v1::LEASE_KIND_SAMPLE) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("lease.kind: samples are appended under SAMPLE leases, not ", LeaseKindName(s.rec.kind()))));
  }
  WriteBatch batch;
  const int64_t before = session->accepted;
  absl::Status appended = samples_.Append(e, s, (*w)->id(), message, session, clock_->NowMs(), &batch);
  if (!batch.empty()) Write(std::move(batch));
  if (session->accepted > before) e.progress_dirty = true;
  *seq = log_->last_enqueued();
  if (!appended.ok()) return fail(appended);
  return absl::OkStatus();
}

absl::StatusOr<ScanView> Coordinator::ViewForScan(const v1::ScanRequest& request) {
  ScanView view;
  absl::MutexLock lock(&mu_);
  JobEntry* e = FindJob(request.job_id());
  if (e == nullptr) return absl::NotFoundError(absl::StrCat("no job \"", request.job_id(), "\""));
  view.problems = &e->problems;
  view.filter_spec = e->job.spec().filter();
  for (const v1::RoundStatus& rs : e->job.rounds()) {
    if (rs.round() == request.round() && rs.has_filter()) {
      view.filter = rs.filter();
      view.filtered = true;
    }
  }
  if (samples_.FindRound(e->id(), request.round()) == nullptr && e->job.round() < request.round()) {
    return absl::NotFoundError(absl::StrCat("job ", request.job_id(), " has no round ", request.round(), " yet"));
  }
  if (request.survivors_only() && !view.filtered) {
    return absl::FailedPreconditionError(absl::StrCat("round ", request.round(), " of job ", request.job_id(),
                                                      " is not filtered yet (the job is ", JobStateName(e->job.state()),
                                                      ")"));
  }
  return view;
}

absl::StatusOr<v1::ScanResponse> Coordinator::ScanPage(const v1::ScanRequest& request, ScanCursor* cursor) {
  RETURN_IF_ERROR(SampleStore::CheckScanRequest(request));
  ASSIGN_OR_RETURN(ScanView view, ViewForScan(request));
  return samples_.ScanPage(request, view, cursor);
}

absl::StatusOr<std::string> Coordinator::ExportPage(const v1::ExportRequest& request, ScanCursor* cursor) {
  v1::ScanRequest scan;
  scan.set_job_id(request.job_id());
  scan.set_round(request.round());
  scan.set_survivors_only(!request.all_samples());
  RETURN_IF_ERROR(SampleStore::CheckScanRequest(scan));
  absl::StatusOr<ScanView> view = ViewForScan(scan);
  if (absl::IsFailedPrecondition(view.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat(view.status().message(), "; pass --all to export every sample unfiltered"));
  }
  if (!view.ok()) return view.status();
  return samples_.ExportPage(request, *view, cursor);
}

void Coordinator::Stats(const v1::StatsRequest& request, Done<v1::StatsResponse> done) {
  Pending pending;
  absl::StatusOr<v1::StatsResponse> result;
  {
    absl::MutexLock lock(&mu_);
    v1::StatsResponse r;
    if (!request.job_id().empty() && FindJob(request.job_id()) == nullptr) {
      result = absl::NotFoundError(absl::StrCat("no job \"", request.job_id(), "\""));
    } else {
      for (const auto& [id, e] : jobs_) {
        if (!request.job_id().empty() && id != request.job_id()) continue;
        const auto* rounds = samples_.Rounds(id);
        if (rounds == nullptr) continue;
        for (const auto& [round, s] : *rounds) {
          v1::RoundStats* rs = r.add_rounds();
          rs->set_job_id(id);
          rs->set_round(round);
          rs->set_samples(s.count);
          rs->set_bytes(s.bytes);
          rs->set_expected(s.n * s.problems);
          rs->set_survivors(-1);
          for (const v1::RoundStatus& st : e.job.rounds()) {
            if (st.round() == round && st.has_filter()) rs->set_survivors(st.filter().survivors());
          }
          r.set_total_samples(r.total_samples() + s.count);
          r.set_total_bytes(r.total_bytes() + s.bytes);
        }
      }
      r.set_duplicates_ignored(samples_.duplicates_total());
      result = std::move(r);
    }
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

void Coordinator::Import(const v1::ImportHeader& header, const std::string& jsonl, Done<v1::ImportResponse> done) {
  JobSpecParseOptions po;
  po.base_dir = header.base_dir();
  po.problems_optional = true;
  auto spec = ParseJobSpecYaml(header.spec_yaml(), po);
  if (!spec.ok()) return done(spec.status());
  if (spec->filter().length_unit() == v1::LENGTH_UNIT_TOKENS) {
    return done(absl::InvalidArgumentError(
        "filter.length_unit: tokens needs token counts, which ml-ssd JSONL does not carry; use chars"));
  }
  const std::string source = header.source_name().empty() ? "import" : header.source_name().substr(0, 500);
  // Parsing the file happens before taking the lock.
  absl::StatusOr<ImportedSamples> imported = samples_.ParseImport(source, jsonl);
  if (!imported.ok()) return done(imported.status());
  spec->mutable_sampling()->set_n(imported->n);
  spec->clear_problems();
  std::vector<v1::Problem> problems = std::move(imported->problems);
  Pending pending;
  absl::StatusOr<v1::ImportResponse> result;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status h = Health(); !h.ok()) return done(h);
    auto id = CreateJob(std::move(*spec), "import", /*imported=*/true, std::move(problems));
    if (!id.ok()) return done(id.status());
    JobEntry& e = jobs_.at(*id);
    WriteBatch b;
    samples_.AddImported(e, std::move(*imported), clock_->NowMs(), &b);
    Write(std::move(b));
    const int64_t count = samples_.Round(e, 1).count;
    v1::RoundStatus* rs = e.job.add_rounds();
    rs->set_round(1);
    rs->set_samples(count);
    PersistJob(e);
    LOG(INFO) << "job " << *id << " imported from " << source << ": " << count << " samples of " << e.problems.size()
              << " prompts";
    v1::ImportResponse resp;
    resp.set_job_id(*id);
    resp.set_samples(count);
    resp.set_problems(static_cast<int64_t>(e.problems.size()));
    Advance(e);
    result = std::move(resp);
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

}  // namespace ssd
