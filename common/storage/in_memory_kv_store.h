// A KvStore in memory, with the same semantics as the RocksDB one (ordered
// keys, atomic batches). For unit tests and fuzz targets. `FailNextApply`
// injects a write error.
#ifndef SSD_COMMON_STORAGE_IN_MEMORY_KV_STORE_H_
#define SSD_COMMON_STORAGE_IN_MEMORY_KV_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/storage/kv_store.h"

namespace ssd {

class InMemoryKvStore : public KvStore {
 public:
  explicit InMemoryKvStore(std::vector<std::string> tables);

  absl::Status Apply(const WriteBatch& batch, bool sync) override;
  absl::StatusOr<std::optional<std::string>> Get(int table, absl::string_view key) override;
  absl::Status Scan(int table, absl::string_view prefix, absl::string_view start,
                    const std::function<bool(absl::string_view, absl::string_view)>& visit) override;
  int64_t ApproximateBytes(int table) override;
  const std::vector<std::string>& tables() const override { return names_; }

  void FailNextApply(absl::Status error);
  int64_t synced_applies() const;

 private:
  const std::vector<std::string> names_;
  mutable absl::Mutex mu_;
  std::vector<std::map<std::string, std::string, std::less<>>> data_ ABSL_GUARDED_BY(mu_);
  absl::Status next_error_ ABSL_GUARDED_BY(mu_);
  int64_t synced_applies_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ssd

#endif  // SSD_COMMON_STORAGE_IN_MEMORY_KV_STORE_H_
