#include "coordinator/job_entry.h"

#include <algorithm>

namespace ssd {

std::vector<double> JobEntry::EvalTemperatures(int32_t round) const {
  const v1::EvalSpec& ev = job.spec().eval();
  const auto& list = round == 0 ? ev.base_temperatures() : ev.temperatures();
  return std::vector<double>(list.begin(), list.end());
}

uint64_t JobEntry::SeedFor(v1::LeaseKind kind, int32_t round) const {
  const uint64_t seed = job.spec().sampling().seed();
  if (kind == v1::LEASE_KIND_EVAL) return seed + 1000003ull * static_cast<uint64_t>(round + 1);
  return seed + static_cast<uint64_t>(std::max(0, round - 1));
}

v1::RoundStatus* JobEntry::Round(int32_t round) {
  for (v1::RoundStatus& r : *job.mutable_rounds()) {
    if (r.round() == round) return &r;
  }
  return nullptr;
}

}  // namespace ssd
