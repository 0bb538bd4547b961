#include "common/model/expert_load.h"

#include <algorithm>

namespace ssd {

std::vector<double> ExpertLoad::Fractions(int64_t top_k) const {
  std::vector<double> out(counts.size(), 0.0);
  if (tokens == 0 || top_k <= 0) return out;
  for (size_t e = 0; e < counts.size(); ++e) out[e] = static_cast<double>(counts[e]) / (top_k * tokens);
  return out;
}

double ExpertLoad::MaxOverMean() const {
  int64_t total = 0, most = 0;
  for (int64_t c : counts) total += c, most = std::max(most, c);
  if (total == 0) return 0;
  return static_cast<double>(most) * static_cast<double>(counts.size()) / static_cast<double>(total);
}

int64_t ExpertLoad::DeadExperts() const { return std::count(counts.begin(), counts.end(), int64_t{0}); }

void ExpertLoad::Add(const ExpertLoad& other) {
  tokens += other.tokens;
  if (counts.size() < other.counts.size()) counts.resize(other.counts.size(), 0);
  for (size_t e = 0; e < other.counts.size(); ++e) counts[e] += other.counts[e];
}

}  // namespace ssd
