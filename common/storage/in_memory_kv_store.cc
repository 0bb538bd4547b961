#include "common/storage/in_memory_kv_store.h"

#include <glog/logging.h>

#include <utility>

#include "absl/strings/match.h"

namespace ssd {

InMemoryKvStore::InMemoryKvStore(std::vector<std::string> tables) : names_(std::move(tables)), data_(names_.size()) {}

absl::Status InMemoryKvStore::Apply(const WriteBatch& batch, bool sync) {
  absl::MutexLock lock(&mu_);
  if (!next_error_.ok()) {
    absl::Status e = std::move(next_error_);
    next_error_ = absl::OkStatus();
    return e;
  }
  for (const WriteBatch::Op& op : batch.ops()) {
    CHECK(op.table >= 0 && op.table < static_cast<int>(data_.size())) << "no table " << op.table;
    if (op.value.has_value()) {
      data_[op.table][op.key] = *op.value;
    } else {
      data_[op.table].erase(op.key);
    }
  }
  if (sync) ++synced_applies_;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> InMemoryKvStore::Get(int table, absl::string_view key) {
  absl::MutexLock lock(&mu_);
  CHECK(table >= 0 && table < static_cast<int>(data_.size())) << "no table " << table;
  auto it = data_[table].find(key);
  if (it == data_[table].end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

absl::Status InMemoryKvStore::Scan(int table, absl::string_view prefix, absl::string_view start,
                                   const std::function<bool(absl::string_view, absl::string_view)>& visit) {
  // Copy the range first so that `visit` may call back into the store.
  std::vector<std::pair<std::string, std::string>> rows;
  {
    absl::MutexLock lock(&mu_);
    CHECK(table >= 0 && table < static_cast<int>(data_.size())) << "no table " << table;
    const auto& m = data_[table];
    for (auto it = m.lower_bound(start < prefix ? prefix : start); it != m.end(); ++it) {
      if (!absl::StartsWith(it->first, prefix)) break;
      rows.emplace_back(it->first, it->second);
    }
  }
  for (const auto& [k, v] : rows) {
    if (!visit(k, v)) break;
  }
  return absl::OkStatus();
}

int64_t InMemoryKvStore::ApproximateBytes(int table) {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [k, v] : data_[table]) n += static_cast<int64_t>(k.size() + v.size());
  return n;
}

void InMemoryKvStore::FailNextApply(absl::Status error) {
  absl::MutexLock lock(&mu_);
  next_error_ = std::move(error);
}

int64_t InMemoryKvStore::synced_applies() const {
  absl::MutexLock lock(&mu_);
  return synced_applies_;
}

}  // namespace ssd
