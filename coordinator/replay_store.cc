// The replay store: samples appended under leases, scanned by trainers,
// exported to and imported from ml-ssd chat JSONL. It lives in the
// coordinator process, over the same RocksDB and commit log, so an append
// is validated against the lease table and made durable in one place.
#include <glog/logging.h>

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/chat/chat_record.h"
#include "common/util/jsonl.h"
#include "common/metrics/metrics_registry.h"
#include "common/util/status_macros.h"
#include "coordinator/coordinator.h"
#include "coordinator/job_spec.h"
#include "coordinator/job_state.h"
#include "common/filter/sample_filter.h"
#include "coordinator/store_schema.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using Json = nlohmann::ordered_json;

bool ValidFinishReason(const std::string& r) {
  if (r.empty() || r.size() > 32) return false;
  for (char c : r) {
    if (!(c >= 'a' && c <= 'z') && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::Status Coordinator::AppendMessage(const v1::AppendRequest& message, AppendSession* session, uint64_t* seq) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Health());
  ++session->messages;
  if (!session->started) {
    if (!message.has_lease()) return absl::InvalidArgumentError("the first Append message must carry the lease");
    session->identity = message.identity();
    session->lease = message.lease();
    session->started = true;
  } else if (message.has_lease() && message.lease().SerializeAsString() != session->lease.SerializeAsString()) {
    return absl::InvalidArgumentError("lease: one Append stream carries the samples of one lease");
  }
  auto fail = [&](absl::Status s) {
    if (appends_refused_ != nullptr) appends_refused_->Increment();
    return s;
  };
  auto w = Authenticate(session->identity);
  if (!w.ok()) return fail(w.status());
  auto checked = CheckLease(session->lease, **w);
  if (!checked.ok()) return fail(checked.status());
  JobEntry& e = *checked->first;
  ShardEntry& s = *checked->second;
  if (s.rec.kind() != v1::LEASE_KIND_SAMPLE) {
    return fail(absl::InvalidArgumentError(absl::StrCat("lease.kind: samples are appended under SAMPLE leases, not ",
                                                        LeaseKindName(s.rec.kind()))));
  }
  SampleRound& r = RoundSamples(e, s.rec.round());
  const v1::SamplingSpec& spec = e.job.spec().sampling();
  const int64_t now = clock_->NowMs();
  WriteBatch batch;
  absl::Status error;
  int64_t accepted = 0, bytes = 0;
  for (int i = 0; i < message.samples_size(); ++i) {
    const v1::Sample& x = message.samples(i);
    const std::string where = absl::StrCat("message ", session->messages, ", sample ", i, " (problem \"",
                                           x.problem_id().substr(0, 200), "\" #", x.sample_index(), ")");
    auto p = e.problem_index.find(x.problem_id());
    if (p == e.problem_index.end()) {
      error = absl::InvalidArgumentError(absl::StrCat(where, ": not a problem of job ", e.job.id()));
      break;
    }
    const int64_t pi = p->second;
    if (pi < s.rec.first_problem() || pi >= s.rec.first_problem() + s.rec.num_problems()) {
      error = absl::PermissionDeniedError(absl::StrCat(where, ": the problem is outside this lease (shard ",
                                                       s.rec.shard(), " holds problems ", s.rec.first_problem(), "..",
                                                       s.rec.first_problem() + s.rec.num_problems() - 1, ")"));
      break;
    }
    if (x.sample_index() < 0 || x.sample_index() >= r.n) {
      error = absl::InvalidArgumentError(absl::StrCat(where, ": sample_index must be in [0, ", r.n, ")"));
      break;
    }
    if (static_cast<int64_t>(x.text().size()) > options_.max_sample_bytes) {
      error = absl::InvalidArgumentError(absl::StrCat(where, ": text of ", x.text().size(), " bytes is over the limit of ",
                                                      options_.max_sample_bytes));
      break;
    }
    const int64_t max_tokens =
        std::max(spec.max_tokens(), e.problems[static_cast<size_t>(pi)].max_tokens());
    if (x.num_tokens() < 0 || x.num_tokens() > max_tokens) {
      error = absl::InvalidArgumentError(
          absl::StrCat(where, ": num_tokens ", x.num_tokens(), " is not in [0, max_tokens = ", max_tokens, "]"));
      break;
    }
    if (x.token_ids_size() > 0 && x.token_ids_size() != x.num_tokens()) {
      error = absl::InvalidArgumentError(absl::StrCat(where, ": ", x.token_ids_size(), " token_ids for num_tokens ",
                                                      x.num_tokens()));
      break;
    }
    const int64_t sft_limit = e.job.spec().train().max_seq_len();
    if (x.sft_tokens() < 0 || x.sft_tokens() > sft_limit || x.sft_loss_tokens() < 0 ||
        (x.sft_tokens() == 0 && x.sft_loss_tokens() != 0) ||
        (x.sft_tokens() > 0 && x.sft_loss_tokens() >= x.sft_tokens())) {
      error = absl::InvalidArgumentError(absl::StrCat(
          where, ": sft_tokens ", x.sft_tokens(), " and sft_loss_tokens ", x.sft_loss_tokens(),
          " are not counts of a conversation (need 0 <= sft_loss_tokens < sft_tokens <= max_seq_len = ", sft_limit,
          ", or both 0)"));
      break;
    }
    if (x.weights_version() != s.rec.round() - 1) {
      error = absl::InvalidArgumentError(absl::StrCat(where, ": generated with weights version ", x.weights_version(),
                                                      ", but the lease is for version ", s.rec.round() - 1));
      break;
    }
    if (!ValidFinishReason(x.finish_reason())) {
      error = absl::InvalidArgumentError(
          absl::StrCat(where, ": finish_reason must be a short lowercase word such as stop or length"));
      break;
    }
    const int64_t slot = pi * r.n + x.sample_index();
    if (r.Has(slot)) {
      ++session->duplicates;
      ++duplicates_total_;
      if (duplicates_ignored_ != nullptr) duplicates_ignored_->Increment();
      continue;
    }
    const v1::SampleFeatures f = ComputeFeatures(x.text(), x.num_tokens());
    r.Set(slot);
    r.features[static_cast<size_t>(slot)] = Features{f.chars(), f.tokens(), f.bytes(), f.empty(), f.single_line()};
    ++r.count;
    r.bytes += f.bytes();
    r.tokens += f.tokens();
    v1::SampleRecord rec;
    *rec.mutable_sample() = x;
    rec.set_worker_id((*w)->rec.status().worker_id());
    rec.set_lease_epoch(s.rec.epoch());
    rec.set_weights_version(s.rec.round() - 1);
    rec.set_appended_unix_ms(now);
    const std::string key =
        SampleKey(e.job.id(), static_cast<uint32_t>(s.rec.round()), static_cast<uint32_t>(pi),
                  static_cast<uint32_t>(x.sample_index()));
    batch.Put(kFeatures, key, f.SerializeAsString());
    batch.Put(kSamples, key, rec.SerializeAsString());
    ++accepted;
    bytes += static_cast<int64_t>(x.text().size());
  }
  if (!batch.empty()) Write(std::move(batch));
  session->accepted += accepted;
  if (samples_appended_ != nullptr) {
    samples_appended_->Increment(accepted);
    sample_bytes_appended_->Increment(bytes);
  }
  if (accepted > 0) e.progress_dirty = true;
  *seq = log_->last_enqueued();
  if (!error.ok()) return fail(error);
  return absl::OkStatus();
}

namespace {

struct ScanView {
  const std::vector<v1::Problem>* problems = nullptr;
  v1::FilterSpec filter_spec;
  v1::FilterResult filter;
  bool filtered = false;
};

absl::Status CheckScanArgs(const std::string& job_id, int32_t round, int32_t rank, int32_t world) {
  if (job_id.empty()) return absl::InvalidArgumentError("job_id: empty");
  if (round < 1) return absl::InvalidArgumentError(absl::StrCat("round: must be >= 1, got ", round));
  if (world < 0 || world > 65536) return absl::InvalidArgumentError("world: must be in [0, 65536]");
  if (world > 1 && (rank < 0 || rank >= world)) {
    return absl::InvalidArgumentError(absl::StrCat("rank: must be in [0, world = ", world, "), got ", rank));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ScanResponse> Coordinator::ScanPage(const v1::ScanRequest& request, ScanCursor* cursor) {
  RETURN_IF_ERROR(CheckScanArgs(request.job_id(), request.round(), request.rank(), request.world()));
  if (request.batch_size() < 0 || request.batch_size() > 100000) {
    return absl::InvalidArgumentError("batch_size: must be in [0, 100000]");
  }
  if (!request.select().empty() && request.world() > 1) {
    return absl::InvalidArgumentError("select: cannot be combined with partitioning (world > 1)");
  }
  ScanView view;
  {
    absl::MutexLock lock(&mu_);
    JobEntry* e = FindJob(request.job_id());
    if (e == nullptr) return absl::NotFoundError(absl::StrCat("no job \"", request.job_id(), "\""));
    // Problems never change after a job is created, and jobs are never
    // removed, so the vector may be read after the lock is released.
    view.problems = &e->problems;
    view.filter_spec = e->job.spec().filter();
    for (const v1::RoundStatus& rs : e->job.rounds()) {
      if (rs.round() == request.round() && rs.has_filter()) {
        view.filter = rs.filter();
        view.filtered = true;
      }
    }
    if (e->samples.count(request.round()) == 0 && e->job.round() < request.round()) {
      return absl::NotFoundError(absl::StrCat("job ", request.job_id(), " has no round ", request.round(), " yet"));
    }
    if (request.survivors_only() && !view.filtered) {
      return absl::FailedPreconditionError(absl::StrCat("round ", request.round(), " of job ", request.job_id(),
                                                        " is not filtered yet (the job is ",
                                                        JobStateName(e->job.state()), ")"));
    }
  }
  const int64_t batch = request.batch_size() == 0 ? 256 : request.batch_size();
  const int32_t world = std::max(1, request.world());
  v1::ScanResponse resp;
  absl::Status bad;
  bool more = false;
  bool past_select = false;
  const std::string& select = request.select();
  std::string last_key;
  RETURN_IF_ERROR(store_->Scan(
      kSamples, RoundPrefix(request.job_id(), static_cast<uint32_t>(request.round())), cursor->next_key,
      [&](absl::string_view key, absl::string_view value) {
        if (resp.samples_size() >= batch) {
          more = true;
          return false;
        }
        last_key = std::string(key);
        SampleKeyParts parts;
        v1::SampleRecord rec;
        if (!ParseSampleKey(key, &parts) || !rec.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
            parts.problem >= view.problems->size()) {
          bad = absl::DataLossError(absl::StrCat("store: a sample of job ", request.job_id(), " does not parse"));
          return false;
        }
        bool survivor = true;
        if (view.filtered) {
          survivor = Survives(view.filter_spec, view.filter, key,
                              ComputeFeatures(rec.sample().text(), rec.sample().num_tokens()));
        }
        if (request.survivors_only() && !survivor) return true;
        const int64_t ordinal = cursor->ordinal++;
        if (ordinal % world != request.rank() % world) return true;
        if (!select.empty()) {
          if (static_cast<uint64_t>(ordinal) >= 8 * static_cast<uint64_t>(select.size())) {
            past_select = true;  // nothing further can be selected
            return false;
          }
          if (((static_cast<uint8_t>(select[static_cast<size_t>(ordinal / 8)]) >> (ordinal % 8)) & 1) == 0) {
            return true;
          }
        }
        v1::ScannedSample* out = resp.add_samples();
        if (request.sizes_only()) {
          v1::Sample* x = out->mutable_sample();
          x->set_problem_id(rec.sample().problem_id());
          x->set_sample_index(rec.sample().sample_index());
          x->set_num_tokens(rec.sample().num_tokens());
          x->set_weights_version(rec.sample().weights_version());
          x->set_sft_tokens(rec.sample().sft_tokens());
          x->set_sft_loss_tokens(rec.sample().sft_loss_tokens());
        } else {
          *out->mutable_sample() = std::move(*rec.mutable_sample());
          *out->mutable_problem() = (*view.problems)[parts.problem];
        }
        out->set_survivor(survivor);
        out->set_ordinal(ordinal);
        return true;
      }));
  RETURN_IF_ERROR(bad);
  if (more && !past_select) {
    cursor->next_key = last_key + std::string(1, '\0');
  } else {
    cursor->done = true;
  }
  return resp;
}

absl::StatusOr<std::string> Coordinator::ExportPage(const v1::ExportRequest& request, ScanCursor* cursor) {
  v1::ScanRequest scan;
  scan.set_job_id(request.job_id());
  scan.set_round(request.round());
  scan.set_survivors_only(!request.all_samples());
  scan.set_batch_size(512);
  auto page = ScanPage(scan, cursor);
  if (!page.ok()) {
    if (page.status().code() == absl::StatusCode::kFailedPrecondition) {
      return absl::FailedPreconditionError(
          absl::StrCat(page.status().message(), "; pass --all to export every sample unfiltered"));
    }
    return page.status();
  }
  std::string out;
  for (const v1::ScannedSample& s : page->samples()) {
    absl::StatusOr<std::string> line =
        SampleConversationLine(s.problem().messages_json(), s.problem().raw_prompt(), s.sample().text());
    if (!line.ok()) {
      return absl::Status(line.status().code(), absl::StrCat("problem ", s.problem().id(), ": ", line.status().message()));
    }
    absl::StrAppend(&out, *line, "\n");
  }
  return out;
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
        for (const auto& [round, s] : e.samples) {
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
      r.set_duplicates_ignored(duplicates_total_);
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
  // Conversations sharing their prompt (every message but the last) become
  // the samples of one problem, in order of appearance.
  std::vector<v1::Problem> problems;
  std::map<std::string, uint32_t> by_prompt;
  std::vector<std::pair<uint32_t, std::string>> samples;  // problem, text
  std::vector<int64_t> counts;
  absl::StatusOr<JsonlStats> read = ReadJsonlBytes(source, jsonl, JsonlOptions(), [&](const JsonlLine& line) -> absl::Status {
    ASSIGN_OR_RETURN(Json m, ParseChatRecord(line.text));
    RETURN_IF_ERROR(ValidateAnswered(m));
    std::string text = m.back()["content"].get<std::string>();
    m.erase(m.size() - 1);
    const std::string prompt = m.dump();
    auto [it, inserted] = by_prompt.emplace(prompt, static_cast<uint32_t>(problems.size()));
    if (inserted) {
      if (problems.size() >= options_.max_problems_per_job) {
        // Not a bad line: the import stops here.
        return absl::OutOfRangeError(
            absl::StrCat("more than ", options_.max_problems_per_job, " distinct prompts (the coordinator's limit)"));
      }
      v1::Problem p;
      p.set_id(absl::StrCat("import-", problems.size() + 1));
      p.set_messages_json(prompt);
      problems.push_back(std::move(p));
      counts.push_back(0);
    }
    ++counts[it->second];
    samples.emplace_back(it->second, std::move(text));
    return absl::OkStatus();
  });
  if (!read.ok()) return done(absl::InvalidArgumentError(read.status().message()));
  if (read->bad_lines > 0) {
    return done(absl::InvalidArgumentError(absl::StrCat(RefuseBadLines(source, *read).message(), "\nnothing was imported")));
  }
  if (samples.empty()) return done(absl::InvalidArgumentError(absl::StrCat(source, ": no conversations")));
  const int64_t n = *std::max_element(counts.begin(), counts.end());
  if (n > 1024) {
    return done(absl::InvalidArgumentError(absl::StrCat(source, ": one prompt has ", n, " replies; at most 1024")));
  }
  spec->mutable_sampling()->set_n(n);
  spec->clear_problems();
  Pending pending;
  absl::StatusOr<v1::ImportResponse> result;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status h = Health(); !h.ok()) return done(h);
    auto id = CreateJob(std::move(*spec), "import", /*imported=*/true, std::move(problems));
    if (!id.ok()) return done(id.status());
    JobEntry& e = jobs_[*id];
    SampleRound& r = RoundSamples(e, 1);
    std::vector<int64_t> next(counts.size(), 0);
    const int64_t now = clock_->NowMs();
    WriteBatch b;
    for (auto& [p, text] : samples) {
      const int64_t s = next[p]++;
      const v1::SampleFeatures f = ComputeFeatures(text, 0);
      const int64_t slot = static_cast<int64_t>(p) * r.n + s;
      r.Set(slot);
      r.features[static_cast<size_t>(slot)] = Features{f.chars(), f.tokens(), f.bytes(), f.empty(), f.single_line()};
      ++r.count;
      r.bytes += f.bytes();
      v1::SampleRecord rec;
      v1::Sample* x = rec.mutable_sample();
      x->set_problem_id(e.problems[p].id());
      x->set_sample_index(s);
      x->set_text(std::move(text));
      x->set_finish_reason("imported");
      rec.set_worker_id("import");
      rec.set_appended_unix_ms(now);
      const std::string key = SampleKey(*id, 1, p, static_cast<uint32_t>(s));
      b.Put(kFeatures, key, f.SerializeAsString());
      b.Put(kSamples, key, rec.SerializeAsString());
    }
    Write(std::move(b));
    v1::RoundStatus* rs = e.job.add_rounds();
    rs->set_round(1);
    rs->set_samples(r.count);
    PersistJob(e);
    LOG(INFO) << "job " << *id << " imported from " << source << ": " << r.count << " samples of "
              << e.problems.size() << " prompts";
    v1::ImportResponse resp;
    resp.set_job_id(*id);
    resp.set_samples(r.count);
    resp.set_problems(static_cast<int64_t>(e.problems.size()));
    Advance(e);
    result = std::move(resp);
    pending = EndOp();
  }
  ReplyAfter(std::move(pending), std::move(result), std::move(done));
}

}  // namespace ssd
