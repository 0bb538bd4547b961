// GradeMemo: the verdicts of programs already graded, keyed by problem and
// program text, so that an identical program on the same problem is run in
// the sandbox once.
//
// Sampling a confident model gives many identical answers: every greedy
// sample, and most samples at a low or truncated temperature. Grading is
// deterministic for them except where a verdict depends on timing (a test
// that finishes near its timeout); such a verdict is shared by every copy of
// the program, where grading each copy could have split them.
//
// Results that carry an error (the sandbox failed, an unknown problem) are
// not kept: they are retried. Thread-safe.
#ifndef SSD_COMMON_EVAL_GRADE_MEMO_H_
#define SSD_COMMON_EVAL_GRADE_MEMO_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/eval/grader.h"

namespace ssd {

class GradeMemo {
 public:
  // The result graded for `code` on `question_id`, if there is one.
  std::optional<SolutionResult> Find(absl::string_view question_id, absl::string_view code) const;
  // The same, by a key made with Key().
  std::optional<SolutionResult> FindKey(const std::string& key) const;
  // Keeps `result` (graded for `solution`) unless it carries an error.
  void Put(const Solution& solution, const SolutionResult& result);
  // Answers given a result without a sandbox run (GradeSolutions counts them).
  void CountReused(int64_t n);
  int64_t reused() const;
  int64_t size() const;

  // The key of a (problem, program) pair: the question id, a NUL, the code.
  static std::string Key(absl::string_view question_id, absl::string_view code);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, SolutionResult> results_ ABSL_GUARDED_BY(mu_);
  int64_t reused_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_GRADE_MEMO_H_
