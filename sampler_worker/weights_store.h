// WeightsStore: the weights versions a sampler holds, as Hugging Face
// folders under its work dir:
//
//   <root>/<job>/v<N>/          installed, complete and verified
//   <root>/.staging/<...>/      a push or fetch in progress (removed on failure)
//
// A version is installed by renaming its verified staging folder into
// place, so a crash leaves either the whole version or none. Receivers do
// not fsync (the disk would bound every push); a background thread makes
// each installed version durable and then writes its `.synced` marker.
// Versions are a cache that peers can refill, so at start-up a version
// without the marker (the machine went down before it was synced) is
// dropped, never trusted. Version 0 of a job is its base model, read from
// the job's model path, never stored. Thread-safe.
#ifndef SSD_SAMPLER_WORKER_WEIGHTS_STORE_H_
#define SSD_SAMPLER_WORKER_WEIGHTS_STORE_H_

#include <deque>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ssd/v1/types.pb.h"

namespace ssd {

class WeightsStore {
 public:
  // Creates `root` and finds what is installed (stale staging is removed).
  static absl::StatusOr<std::unique_ptr<WeightsStore>> Open(const std::string& root);

  std::string Dir(const v1::WeightsRef& ref) const;
  bool Has(const v1::WeightsRef& ref) const;
  // Every installed version.
  std::vector<v1::WeightsRef> Held() const;
  // The newest installed version of a job (0 when none).
  int32_t Newest(const std::string& job_id) const;
  // A fresh staging folder for `ref`.
  absl::StatusOr<std::string> NewStaging(const v1::WeightsRef& ref);
  // Moves a verified staging folder into place. Installing a version that is
  // already there discards the staging copy and succeeds.
  absl::Status Install(const v1::WeightsRef& ref, const std::string& staging);
  void Discard(const std::string& staging);
  // Blocks until every installed version is synced (tests, shutdown).
  void WaitSynced();
  ~WeightsStore();

 private:
  explicit WeightsStore(std::string root);
  void SyncLoop();

  const std::string root_;
  std::thread syncer_;
  mutable absl::Mutex mu_;
  std::deque<std::string> to_sync_ ABSL_GUARDED_BY(mu_);
  bool syncing_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::map<int32_t, bool>> held_ ABSL_GUARDED_BY(mu_);
  uint64_t next_staging_ ABSL_GUARDED_BY(mu_) = 0;
};

// Job ids travel into paths: letters, digits, '-', '_' and '.' only.
absl::Status CheckJobIdForPath(const std::string& job_id);

}  // namespace ssd

#endif  // SSD_SAMPLER_WORKER_WEIGHTS_STORE_H_
