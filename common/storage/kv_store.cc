#include "common/storage/kv_store.h"

#include <utility>

namespace ssd {

void WriteBatch::Put(int table, std::string key, std::string value) {
  bytes_ += key.size() + value.size();
  ops_.push_back(Op{table, std::move(key), std::move(value)});
}

void WriteBatch::Delete(int table, std::string key) {
  bytes_ += key.size();
  ops_.push_back(Op{table, std::move(key), std::nullopt});
}

void WriteBatch::Append(WriteBatch&& other) {
  bytes_ += other.bytes_;
  if (ops_.empty()) {
    ops_ = std::move(other.ops_);
  } else {
    for (Op& op : other.ops_) ops_.push_back(std::move(op));
  }
  other.Clear();
}

void WriteBatch::Clear() {
  ops_.clear();
  bytes_ = 0;
}

}  // namespace ssd
