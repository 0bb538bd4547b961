#include "common/storage/rocksdb_kv_store.h"

#include <glog/logging.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

absl::Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError() && absl::StrContains(s.ToString(), "lock")) {
    return absl::FailedPreconditionError(absl::StrCat(msg, " (is another coordinator running on this --data-dir?)"));
  }
  if (s.IsIOError() || s.IsBusy() || s.IsTryAgain()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

rocksdb::Slice ToSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbKvStore>> RocksDbKvStore::Open(const RocksDbOptions& options,
                                                                     std::vector<std::string> tables) {
  RETURN_IF_ERROR(MakeDirs(options.path));
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  db_options.max_background_jobs = options.background_jobs;
  // Let concurrent writers share one WAL write and one fsync.
  db_options.enable_pipelined_write = false;
  db_options.allow_concurrent_memtable_write = true;
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = static_cast<size_t>(options.write_buffer_bytes);
  cf_options.compression = rocksdb::kNoCompression;

  // Every column family on disk must be opened, including ones a newer
  // build may have added.
  std::vector<std::string> existing;
  rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(db_options, options.path, &existing);
  std::vector<std::string> open_names = tables;
  if (std::find(open_names.begin(), open_names.end(), rocksdb::kDefaultColumnFamilyName) == open_names.end()) {
    open_names.insert(open_names.begin(), rocksdb::kDefaultColumnFamilyName);
  }
  if (ls.ok()) {
    for (const std::string& e : existing) {
      if (std::find(open_names.begin(), open_names.end(), e) == open_names.end()) open_names.push_back(e);
    }
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& n : open_names) descriptors.emplace_back(n, cf_options);

  std::unique_ptr<RocksDbKvStore> store(new RocksDbKvStore());
  store->path_ = options.path;
  store->names_ = tables;
  rocksdb::DB* db = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(db_options, options.path, descriptors, &store->all_handles_, &db),
                            absl::StrCat("opening the database in ", options.path)));
  store->db_.reset(db);
  for (const std::string& t : tables) {
    const size_t i = std::find(open_names.begin(), open_names.end(), t) - open_names.begin();
    store->handles_.push_back(store->all_handles_[i]);
  }
  return store;
}

RocksDbKvStore::~RocksDbKvStore() {
  if (db_ != nullptr) {
    for (rocksdb::ColumnFamilyHandle* h : all_handles_) {
      rocksdb::Status s = db_->DestroyColumnFamilyHandle(h);
      if (!s.ok()) LOG(WARNING) << path_ << ": closing a column family: " << s.ToString();
    }
    rocksdb::Status s = db_->Close();
    if (!s.ok()) LOG(WARNING) << path_ << ": close: " << s.ToString();
  }
}

absl::Status RocksDbKvStore::Apply(const WriteBatch& batch, bool sync) {
  rocksdb::WriteBatch wb;
  for (const WriteBatch::Op& op : batch.ops()) {
    CHECK(op.table >= 0 && op.table < static_cast<int>(handles_.size())) << "no table " << op.table;
    if (op.value.has_value()) {
      wb.Put(handles_[op.table], ToSlice(op.key), ToSlice(*op.value));
    } else {
      wb.Delete(handles_[op.table], ToSlice(op.key));
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return FromRocks(db_->Write(wo, &wb), absl::StrCat(path_, ": write of ", batch.ops().size(), " keys"));
}

absl::StatusOr<std::optional<std::string>> RocksDbKvStore::Get(int table, absl::string_view key) {
  CHECK(table >= 0 && table < static_cast<int>(handles_.size())) << "no table " << table;
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_[table], ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  RETURN_IF_ERROR(FromRocks(s, absl::StrCat(path_, ": read from ", names_[table])));
  return std::optional<std::string>(std::move(value));
}

absl::Status RocksDbKvStore::Scan(int table, absl::string_view prefix, absl::string_view start,
                                  const std::function<bool(absl::string_view, absl::string_view)>& visit) {
  CHECK(table >= 0 && table < static_cast<int>(handles_.size())) << "no table " << table;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[table]));
  for (it->Seek(ToSlice(start < prefix ? prefix : start)); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    const absl::string_view key(k.data(), k.size());
    if (!absl::StartsWith(key, prefix)) break;
    const rocksdb::Slice v = it->value();
    if (!visit(key, absl::string_view(v.data(), v.size()))) break;
  }
  return FromRocks(it->status(), absl::StrCat(path_, ": scan of ", names_[table]));
}

int64_t RocksDbKvStore::ApproximateBytes(int table) {
  uint64_t sst = 0;
  uint64_t mem = 0;
  db_->GetIntProperty(handles_[table], "rocksdb.total-sst-files-size", &sst);
  db_->GetIntProperty(handles_[table], "rocksdb.cur-size-all-mem-tables", &mem);
  return static_cast<int64_t>(sst + mem);
}

}  // namespace ssd
