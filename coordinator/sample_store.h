// SampleStore: the replay store's samples. Samples are appended under
// sample leases, scanned by trainer ranks, exported to and imported from
// ml-ssd chat JSONL. It lives in the coordinator process, over the same
// KvStore and commit log, so an append is checked against the lease table
// and made durable in one place.
//
// A sample's key is (job, round, problem, sample index) (store_schema.h),
// so an append is idempotent: a re-run shard's samples are acknowledged and
// ignored. In memory the store keeps, per round, one presence bit and the
// filter's features per slot (problem x n + index); sample texts stay on disk
// and are read by Scan and Export outside the coordinator's lock.
//
// Thread safety: the index (Round, Append, Recover, ...) is guarded by the
// Coordinator's mutex. ScanPage and ExportPage read only the KvStore and
// what the caller copied into the ScanView, and may run without the lock.
#ifndef SSD_COORDINATOR_SAMPLE_STORE_H_
#define SSD_COORDINATOR_SAMPLE_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/filter/sample_filter.h"
#include "common/storage/kv_store.h"
#include "coordinator/coordinator_options.h"
#include "coordinator/job_entry.h"
#include "coordinator/records.pb.h"
#include "ssd/v1/replay_store.pb.h"

namespace ssd {

class Counter;
class MetricsRegistry;

// One Append stream across its messages.
struct AppendSession {
  v1::WorkerCredentials credentials;  // from the stream's metadata
  v1::LeaseRef lease;
  bool started = false;
  int64_t messages = 0;
  int64_t accepted = 0;
  int64_t duplicates = 0;
};

// Where a Scan or Export continues.
struct ScanCursor {
  std::string next_key;  // "" before the first page
  int64_t ordinal = 0;   // selected samples seen so far (for rank/world)
  bool done = false;
};

// The samples of one round of one job: which slots are stored, and the
// features the filter reads.
struct SampleRound {
  int64_t n = 0;  // samples per problem
  int64_t problems = 0;
  std::vector<uint64_t> present;         // bit p * n + s
  std::vector<SampleFeatures> features;  // by p * n + s, valid where present
  int64_t count = 0;
  int64_t bytes = 0;
  int64_t tokens = 0;

  bool Has(int64_t slot) const { return (present[slot >> 6] >> (slot & 63)) & 1; }
  bool complete() const { return count == n * problems; }
  // Marks `slot` stored with `f`.
  void Add(int64_t slot, const SampleFeatures& f);
};

// What a Scan of one round needs from the job, copied under the lock.
struct ScanView {
  // Problems never change after a job is created, and jobs are never
  // removed, so this may be read after the lock is released.
  const std::vector<v1::Problem>* problems = nullptr;
  v1::FilterSpec filter_spec;
  v1::FilterResult filter;
  bool filtered = false;
};

// An ml-ssd JSONL file parsed for `ssd import`: conversations sharing their
// prompt (every message but the last) are the samples of one problem.
struct ImportedSamples {
  std::vector<v1::Problem> problems;
  std::vector<std::pair<uint32_t, std::string>> samples;  // problem, text
  int64_t n = 0;                                          // the most samples of one problem
};

class SampleStore {
 public:
  // `store` is not owned; `metrics` may be null.
  SampleStore(const CoordinatorOptions& options, KvStore* store, MetricsRegistry* metrics);

  // The round's index, sized for the job's problems and samples per problem.
  SampleRound& Round(const JobEntry& e, int32_t round);
  const SampleRound* FindRound(const std::string& job_id, int32_t round) const;
  const std::map<int32_t, SampleRound>* Rounds(const std::string& job_id) const;
  // Rebuilds the job's index from the features table.
  absl::Status Recover(const JobEntry& e);

  // Validates the samples of one Append message under the sample lease `s`
  // of job `e`, and stages the new ones into `batch`. On error (naming the
  // message, the sample and its problem) the samples before the bad one are
  // staged anyway. session->accepted counts the samples accepted.
  absl::Status Append(const JobEntry& e, const Shard& s, const std::string& worker_id, const v1::AppendRequest& message,
                      AppendSession* session, int64_t now_ms, WriteBatch* batch);
  int64_t duplicates_total() const { return duplicates_total_; }

  // The round's samples as the filter sees them.
  std::vector<FilterCandidate> FilterCandidates(const JobEntry& e, int32_t round);

  // The next page of a Scan (the arguments checked by CheckScanRequest);
  // cursor->done when the round is exhausted. Reads only the KvStore.
  absl::StatusOr<v1::ScanResponse> ScanPage(const v1::ScanRequest& request, const ScanView& view,
                                            ScanCursor* cursor) const;
  static absl::Status CheckScanRequest(const v1::ScanRequest& request);
  // The next chunk of an export (ml-ssd chat JSONL lines).
  absl::StatusOr<std::string> ExportPage(const v1::ExportRequest& request, const ScanView& view,
                                         ScanCursor* cursor) const;

  // Parses an import's JSONL (named `source` in errors): every bad line is
  // listed and nothing is imported.
  absl::StatusOr<ImportedSamples> ParseImport(const std::string& source, const std::string& jsonl) const;
  // Stores an import as round 1 of the new job `e`, into `batch`.
  void AddImported(const JobEntry& e, ImportedSamples imported, int64_t now_ms, WriteBatch* batch);

 private:
  const CoordinatorOptions options_;
  KvStore* const store_;
  // job -> round -> index.
  std::map<std::string, std::map<int32_t, SampleRound>> rounds_;
  int64_t duplicates_total_ = 0;
  Counter* samples_appended_ = nullptr;
  Counter* sample_bytes_appended_ = nullptr;
  Counter* duplicates_ignored_ = nullptr;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_SAMPLE_STORE_H_
