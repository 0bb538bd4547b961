#include "coordinator/sample_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/chat/chat_record.h"
#include "common/metrics/metrics_registry.h"
#include "common/util/jsonl.h"
#include "common/util/status_macros.h"
#include "coordinator/store_schema.h"

namespace ssd {
namespace {

using Json = nlohmann::ordered_json;

internal::SampleFeatures ToRecord(const SampleFeatures& f) {
  internal::SampleFeatures r;
  r.set_chars(f.chars);
  r.set_tokens(f.tokens);
  r.set_bytes(f.bytes);
  r.set_empty(f.empty);
  r.set_single_line(f.single_line);
  return r;
}

SampleFeatures FromRecord(const internal::SampleFeatures& r) {
  return SampleFeatures{r.chars(), r.tokens(), r.bytes(), r.empty(), r.single_line()};
}

}  // namespace

void SampleRound::Add(int64_t slot, const SampleFeatures& f) {
  present[static_cast<size_t>(slot >> 6)] |= uint64_t{1} << (slot & 63);
  features[static_cast<size_t>(slot)] = f;
  ++count;
  bytes += f.bytes;
  tokens += f.tokens;
}

SampleStore::SampleStore(const CoordinatorOptions& options, KvStore* store, MetricsRegistry* metrics)
    : options_(options), store_(store) {
  if (metrics == nullptr) return;
  samples_appended_ =
      &metrics->AddCounter("ssd_samples_appended_total", "Samples stored in the replay store.").WithLabels({});
  sample_bytes_appended_ =
      &metrics->AddCounter("ssd_sample_bytes_appended_total", "Text bytes of the samples stored.").WithLabels({});
  duplicates_ignored_ =
      &metrics
           ->AddCounter("ssd_samples_duplicate_total", "Appends of samples already stored, acknowledged and ignored.")
           .WithLabels({});
}

SampleRound& SampleStore::Round(const JobEntry& e, int32_t round) {
  SampleRound& r = rounds_[e.id()][round];
  if (r.n == 0) {
    r.n = std::max<int64_t>(1, e.job.spec().sampling().n());
    r.problems = static_cast<int64_t>(e.problems.size());
    const int64_t slots = r.n * r.problems;
    r.present.assign(static_cast<size_t>((slots + 63) / 64), 0);
    r.features.resize(static_cast<size_t>(slots));
  }
  return r;
}

const SampleRound* SampleStore::FindRound(const std::string& job_id, int32_t round) const {
  auto j = rounds_.find(job_id);
  if (j == rounds_.end()) return nullptr;
  auto r = j->second.find(round);
  return r == j->second.end() ? nullptr : &r->second;
}

const std::map<int32_t, SampleRound>* SampleStore::Rounds(const std::string& job_id) const {
  auto j = rounds_.find(job_id);
  return j == rounds_.end() ? nullptr : &j->second;
}

absl::Status SampleStore::Recover(const JobEntry& e) {
  absl::Status bad;
  RETURN_IF_ERROR(store_->Scan(kFeatures, JobPrefix(e.id()), "", [&](absl::string_view k, absl::string_view v) {
    SampleKeyParts parts;
    internal::SampleFeatures f;
    if (!ParseSampleKey(k, &parts) || !f.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      bad = absl::DataLossError(absl::StrCat("store: a sample index entry of job ", e.id(), " does not parse"));
      return false;
    }
    SampleRound& r = Round(e, static_cast<int32_t>(parts.round));
    const int64_t slot = static_cast<int64_t>(parts.problem) * r.n + parts.sample;
    if (parts.problem >= r.problems || parts.sample >= r.n || r.Has(slot)) {
      bad = absl::DataLossError(absl::StrCat("store: sample index entry out of range in job ", e.id()));
      return false;
    }
    r.Add(slot, FromRecord(f));
    return true;
  }));
  return bad;
}

absl::Status SampleStore::Append(const JobEntry& e, const Shard& s, const std::string& worker_id,
                                 const v1::AppendRequest& message, AppendSession* session, int64_t now_ms,
                                 WriteBatch* batch) {
  SampleRound& r = Round(e, s.rec.round());
  const v1::SamplingSpec& spec = e.job.spec().sampling();
  absl::Status error;
  int64_t accepted = 0, bytes = 0;
  for (int i = 0; i < message.samples_size(); ++i) {
    const v1::Sample& x = message.samples(i);
    const std::string where = absl::StrCat("message ", session->messages, ", sample ", i, " (problem \"",
                                           x.problem_id().substr(0, 200), "\" #", x.sample_index(), ")");
    auto p = e.problem_index.find(x.problem_id());
    if (p == e.problem_index.end()) {
      error = absl::InvalidArgumentError(absl::StrCat(where, ": not a problem of job ", e.id()));
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
      error = absl::InvalidArgumentError(absl::StrCat(where, ": text of ", x.text().size(),
                                                      " bytes is over the limit of ", options_.max_sample_bytes));
      break;
    }
    const int64_t max_tokens = std::max(spec.max_tokens(), e.problems[static_cast<size_t>(pi)].max_tokens());
    if (x.num_tokens() < 0 || x.num_tokens() > max_tokens) {
      error = absl::InvalidArgumentError(
          absl::StrCat(where, ": num_tokens ", x.num_tokens(), " is not in [0, max_tokens = ", max_tokens, "]"));
      break;
    }
    if (x.token_ids_size() > 0 && x.token_ids_size() != x.num_tokens()) {
      error = absl::InvalidArgumentError(
          absl::StrCat(where, ": ", x.token_ids_size(), " token_ids for num_tokens ", x.num_tokens()));
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
    if (x.finish_reason() != v1::FINISH_REASON_STOP && x.finish_reason() != v1::FINISH_REASON_LENGTH) {
      error = absl::InvalidArgumentError(absl::StrCat(where, ": finish_reason must be STOP or LENGTH, got ",
                                                      v1::FinishReason_Name(x.finish_reason())));
      break;
    }
    const int64_t slot = pi * r.n + x.sample_index();
    if (r.Has(slot)) {
      ++session->duplicates;
      ++duplicates_total_;
      if (duplicates_ignored_ != nullptr) duplicates_ignored_->Increment();
      continue;
    }
    const SampleFeatures f = ComputeFeatures(x.text(), x.num_tokens());
    r.Add(slot, f);
    internal::SampleRecord rec;
    *rec.mutable_sample() = x;
    rec.set_worker_id(worker_id);
    rec.set_lease_epoch(s.rec.epoch());
    rec.set_weights_version(s.rec.round() - 1);
    rec.set_appended_unix_ms(now_ms);
    const std::string key = SampleKey(e.id(), static_cast<uint32_t>(s.rec.round()), static_cast<uint32_t>(pi),
                                      static_cast<uint32_t>(x.sample_index()));
    batch->Put(kFeatures, key, ToRecord(f).SerializeAsString());
    batch->Put(kSamples, key, rec.SerializeAsString());
    ++accepted;
    bytes += static_cast<int64_t>(x.text().size());
  }
  session->accepted += accepted;
  if (samples_appended_ != nullptr) {
    samples_appended_->Increment(accepted);
    sample_bytes_appended_->Increment(bytes);
  }
  return error;
}

std::vector<FilterCandidate> SampleStore::FilterCandidates(const JobEntry& e, int32_t round) {
  SampleRound& r = Round(e, round);
  std::vector<FilterCandidate> candidates;
  candidates.reserve(static_cast<size_t>(r.count));
  for (int64_t slot = 0; slot < r.n * r.problems; ++slot) {
    if (!r.Has(slot)) continue;
    FilterCandidate c;
    c.key = SampleKey(e.id(), static_cast<uint32_t>(round), static_cast<uint32_t>(slot / r.n),
                      static_cast<uint32_t>(slot % r.n));
    c.features = r.features[static_cast<size_t>(slot)];
    candidates.push_back(std::move(c));
  }
  return candidates;
}

absl::Status SampleStore::CheckScanRequest(const v1::ScanRequest& r) {
  if (r.job_id().empty()) return absl::InvalidArgumentError("job_id: empty");
  if (r.round() < 1) return absl::InvalidArgumentError(absl::StrCat("round: must be >= 1, got ", r.round()));
  if (r.world() < 0 || r.world() > 65536) return absl::InvalidArgumentError("world: must be in [0, 65536]");
  if (r.world() > 1 && (r.rank() < 0 || r.rank() >= r.world())) {
    return absl::InvalidArgumentError(absl::StrCat("rank: must be in [0, world = ", r.world(), "), got ", r.rank()));
  }
  if (r.batch_size() < 0 || r.batch_size() > 100000) {
    return absl::InvalidArgumentError("batch_size: must be in [0, 100000]");
  }
  if (!r.select().empty() && r.world() > 1) {
    return absl::InvalidArgumentError("select: cannot be combined with partitioning (world > 1)");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ScanResponse> SampleStore::ScanPage(const v1::ScanRequest& request, const ScanView& view,
                                                       ScanCursor* cursor) const {
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
        internal::SampleRecord rec;
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

absl::StatusOr<std::string> SampleStore::ExportPage(const v1::ExportRequest& request, const ScanView& view,
                                                    ScanCursor* cursor) const {
  v1::ScanRequest scan;
  scan.set_job_id(request.job_id());
  scan.set_round(request.round());
  scan.set_survivors_only(!request.all_samples());
  scan.set_batch_size(512);
  ASSIGN_OR_RETURN(v1::ScanResponse page, ScanPage(scan, view, cursor));
  std::string out;
  for (const v1::ScannedSample& s : page.samples()) {
    absl::StatusOr<std::string> line =
        SampleConversationLine(s.problem().messages_json(), s.problem().raw_prompt(), s.sample().text());
    if (!line.ok()) {
      return absl::Status(line.status().code(),
                          absl::StrCat("problem ", s.problem().id(), ": ", line.status().message()));
    }
    absl::StrAppend(&out, *line, "\n");
  }
  return out;
}

absl::StatusOr<ImportedSamples> SampleStore::ParseImport(const std::string& source, const std::string& jsonl) const {
  ImportedSamples out;
  std::map<std::string, uint32_t> by_prompt;
  std::vector<int64_t> counts;
  absl::StatusOr<JsonlStats> read =
      ReadJsonlBytes(source, jsonl, JsonlOptions(), [&](const JsonlLine& line) -> absl::Status {
        ASSIGN_OR_RETURN(Json m, ParseChatRecord(line.text));
        RETURN_IF_ERROR(ValidateAnswered(m));
        std::string text = m.back()["content"].get<std::string>();
        m.erase(m.size() - 1);
        const std::string prompt = m.dump();
        auto [it, inserted] = by_prompt.emplace(prompt, static_cast<uint32_t>(out.problems.size()));
        if (inserted) {
          if (out.problems.size() >= options_.max_problems_per_job) {
            // Not a bad line: the import stops here.
            return absl::OutOfRangeError(absl::StrCat("more than ", options_.max_problems_per_job,
                                                      " distinct prompts (the coordinator's limit)"));
          }
          v1::Problem p;
          p.set_id(absl::StrCat("import-", out.problems.size() + 1));
          p.set_messages_json(prompt);
          out.problems.push_back(std::move(p));
          counts.push_back(0);
        }
        ++counts[it->second];
        out.samples.emplace_back(it->second, std::move(text));
        return absl::OkStatus();
      });
  if (!read.ok()) return absl::InvalidArgumentError(read.status().message());
  if (read->bad_lines > 0) {
    return absl::InvalidArgumentError(absl::StrCat(RefuseBadLines(source, *read).message(), "\nnothing was imported"));
  }
  if (out.samples.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": no conversations"));
  out.n = *std::max_element(counts.begin(), counts.end());
  if (out.n > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": one prompt has ", out.n, " replies; at most 1024"));
  }
  return out;
}

void SampleStore::AddImported(const JobEntry& e, ImportedSamples imported, int64_t now_ms, WriteBatch* batch) {
  SampleRound& r = Round(e, 1);
  std::vector<int64_t> next(e.problems.size(), 0);
  for (auto& [p, text] : imported.samples) {
    const int64_t s = next[p]++;
    const SampleFeatures f = ComputeFeatures(text, 0);
    r.Add(static_cast<int64_t>(p) * r.n + s, f);
    internal::SampleRecord rec;
    v1::Sample* x = rec.mutable_sample();
    x->set_problem_id(e.problems[p].id());
    x->set_sample_index(s);
    x->set_text(std::move(text));
    x->set_finish_reason(v1::FINISH_REASON_IMPORTED);
    rec.set_worker_id("import");
    rec.set_appended_unix_ms(now_ms);
    const std::string key = SampleKey(e.id(), 1, p, static_cast<uint32_t>(s));
    batch->Put(kFeatures, key, ToRecord(f).SerializeAsString());
    batch->Put(kSamples, key, rec.SerializeAsString());
  }
}

}  // namespace ssd
