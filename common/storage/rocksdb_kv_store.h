// KvStore over RocksDB (Debian's librocksdb): one column family per table,
// WAL on, writes with `sync` fsync the WAL before returning. RocksDB's own
// write path groups concurrent writers into one WAL write and sync.
#ifndef SSD_COMMON_STORAGE_ROCKSDB_KV_STORE_H_
#define SSD_COMMON_STORAGE_ROCKSDB_KV_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/storage/kv_store.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace ssd {

struct RocksDbOptions {
  std::string path;  // a folder; created if missing
  int64_t write_buffer_bytes = 64 << 20;
  int background_jobs = 2;
};

class RocksDbKvStore : public KvStore {
 public:
  // Opens (or creates) the database with these tables. Fails with a message
  // naming the folder when it is locked by another process or corrupt.
  static absl::StatusOr<std::unique_ptr<RocksDbKvStore>> Open(const RocksDbOptions& options,
                                                              std::vector<std::string> tables);
  ~RocksDbKvStore() override;

  absl::Status Apply(const WriteBatch& batch, bool sync) override;
  absl::StatusOr<std::optional<std::string>> Get(int table, absl::string_view key) override;
  absl::Status Scan(int table, absl::string_view prefix, absl::string_view start,
                    const std::function<bool(absl::string_view, absl::string_view)>& visit) override;
  int64_t ApproximateBytes(int table) override;
  const std::vector<std::string>& tables() const override { return names_; }

 private:
  RocksDbKvStore() = default;

  std::string path_;
  std::vector<std::string> names_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;      // per table
  std::vector<rocksdb::ColumnFamilyHandle*> all_handles_;  // everything opened, for closing
};

}  // namespace ssd

#endif  // SSD_COMMON_STORAGE_ROCKSDB_KV_STORE_H_
