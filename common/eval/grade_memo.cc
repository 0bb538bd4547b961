#include "common/eval/grade_memo.h"

#include "absl/strings/str_cat.h"

namespace ssd {

std::string GradeMemo::Key(absl::string_view question_id, absl::string_view code) {
  return absl::StrCat(question_id, absl::string_view("\0", 1), code);
}

std::optional<SolutionResult> GradeMemo::Find(absl::string_view question_id, absl::string_view code) const {
  return FindKey(Key(question_id, code));
}

std::optional<SolutionResult> GradeMemo::FindKey(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = results_.find(key);
  if (it == results_.end()) return std::nullopt;
  return it->second;
}

void GradeMemo::Put(const Solution& solution, const SolutionResult& result) {
  if (!result.error.empty()) return;
  absl::MutexLock lock(&mu_);
  results_.emplace(Key(solution.question_id, solution.code), result);
}

void GradeMemo::CountReused(int64_t n) {
  absl::MutexLock lock(&mu_);
  reused_ += n;
}

int64_t GradeMemo::reused() const {
  absl::MutexLock lock(&mu_);
  return reused_;
}

int64_t GradeMemo::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(results_.size());
}

}  // namespace ssd
