#include "common/analysis/mechanism_summary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) m = (m + *std::max_element(v.begin(), v.begin() + mid)) / 2;
  return m;
}

struct Accumulator {
  int64_t n = 0;
  double entropy = 0, tail = 0, head = 0, prob = 0, top1 = 0;
  std::vector<double> tails;
  void Add(const NextTokenStats& s) {
    ++n;
    entropy += s.entropy;
    tail += s.tail_mass;
    head += s.head_entropy;
    prob += s.token_prob;
    top1 += s.top1_share;
    tails.push_back(s.tail_mass);
  }
  ModelGroupMeans Means() const {
    ModelGroupMeans m;
    if (n == 0) return m;
    const double d = static_cast<double>(n);
    m.entropy = entropy / d;
    m.tail_mass = tail / d;
    m.head_entropy = head / d;
    m.token_prob = prob / d;
    m.top1_share = top1 / d;
    m.median_tail_mass = Median(tails);
    return m;
  }
};

struct GroupAccumulator {
  Accumulator base, tuned;
  int64_t tail_fell = 0, argmax_changed = 0;
  void Add(const NextTokenStats& b, const NextTokenStats& t) {
    base.Add(b);
    tuned.Add(t);
    tail_fell += t.tail_mass < b.tail_mass;
    argmax_changed += t.argmax != b.argmax;
  }
  GroupSummary Summary() const {
    GroupSummary g;
    g.positions = base.n;
    g.base = base.Means();
    g.tuned = tuned.Means();
    if (base.n > 0) {
      g.share_tail_fell = static_cast<double>(tail_fell) / static_cast<double>(base.n);
      g.share_argmax_changed = static_cast<double>(argmax_changed) / static_cast<double>(base.n);
    }
    return g;
  }
};

}  // namespace

absl::Status MechanismOptions::Validate(int64_t vocab_size) const {
  RETURN_IF_ERROR(params.Validate(vocab_size));
  if (top_k < 1 || top_k > vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("top_k: must be in [1, ", vocab_size, "], got ", top_k));
  }
  if (!(lock_share > 0 && lock_share <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("lock_share: must be in (0, 1], got ", lock_share));
  }
  if (max_problems < 0)
    return absl::InvalidArgumentError(absl::StrCat("max_problems: must be >= 0, got ", max_problems));
  return absl::OkStatus();
}

PositionGroup GroupOf(const NextTokenStats& base, double lock_share) {
  return base.top1_share >= lock_share ? PositionGroup::kLock : PositionGroup::kFork;
}

void SummarizeMechanism(MechanismReport& report) {
  GroupAccumulator lock, fork, all;
  for (const ScoredSolution& s : report.solutions) {
    for (size_t i = 0; i < s.base.size() && i < s.tuned.size(); ++i) {
      (GroupOf(s.base[i], report.options.lock_share) == PositionGroup::kLock ? lock : fork).Add(s.base[i], s.tuned[i]);
      all.Add(s.base[i], s.tuned[i]);
    }
  }
  report.lock = lock.Summary();
  report.fork = fork.Summary();
  report.all = all.Summary();
}

}  // namespace ssd
