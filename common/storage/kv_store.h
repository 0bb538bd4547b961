// KvStore: the ordered key-value store under the coordinator's durable state
// and the replay store. RocksDB in production (rocksdb_kv_store.h); an
// in-memory fake for unit tests and fuzzers (in_memory_kv_store.h).
//
// Keys live in named tables (RocksDB column families), fixed when the store
// is opened. Keys are ordered bytewise. A WriteBatch is applied atomically:
// all of it or none, also across a crash. With `sync`, Apply returns only
// after the batch is on stable storage (the WAL is fsync'd).
//
// Thread-safe: any number of readers and writers.
#ifndef SSD_COMMON_STORAGE_KV_STORE_H_
#define SSD_COMMON_STORAGE_KV_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

class WriteBatch {
 public:
  struct Op {
    int table = 0;
    std::string key;
    std::optional<std::string> value;  // nullopt: delete
  };
  void Put(int table, std::string key, std::string value);
  void Delete(int table, std::string key);
  void Append(WriteBatch&& other);
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  size_t bytes() const { return bytes_; }
  void Clear();

 private:
  std::vector<Op> ops_;
  size_t bytes_ = 0;
};

class KvStore {
 public:
  virtual ~KvStore() = default;

  virtual absl::Status Apply(const WriteBatch& batch, bool sync) = 0;
  // nullopt when the key is absent.
  virtual absl::StatusOr<std::optional<std::string>> Get(int table, absl::string_view key) = 0;
  // Visits keys starting with `prefix` in order, beginning at the first key
  // >= `start` (empty: the prefix itself), until `visit` returns false.
  virtual absl::Status Scan(int table, absl::string_view prefix, absl::string_view start,
                            const std::function<bool(absl::string_view key, absl::string_view value)>& visit) = 0;
  // Approximate bytes on disk (or in memory) of a table.
  virtual int64_t ApproximateBytes(int table) = 0;
  virtual const std::vector<std::string>& tables() const = 0;
};

}  // namespace ssd

#endif  // SSD_COMMON_STORAGE_KV_STORE_H_
