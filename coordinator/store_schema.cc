#include "coordinator/store_schema.h"

#include "absl/strings/str_cat.h"

namespace ssd {
namespace {

void PutU32(std::string* s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v >> 8));
  s->push_back(static_cast<char>(v & 0xff));
}
uint32_t GetU32(absl::string_view s) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

}  // namespace

std::vector<std::string> CoordinatorTables() {
  return {"meta", "jobs", "problems", "shards", "workers", "samples", "features", "evals", "requests"};
}

std::string JobPrefix(absl::string_view job_id) { return absl::StrCat(job_id, absl::string_view("\0", 1)); }

std::string ProblemPrefix(absl::string_view job_id, ProblemSet set) {
  std::string k = JobPrefix(job_id);
  k.push_back(static_cast<char>(set));
  return k;
}

std::string ProblemKey(absl::string_view job_id, ProblemSet set, uint32_t index) {
  std::string k = ProblemPrefix(job_id, set);
  PutU32(&k, index);
  return k;
}

std::string ShardKey(absl::string_view job_id, uint32_t round, uint8_t kind, uint32_t shard) {
  std::string k = JobPrefix(job_id);
  PutU32(&k, round);
  k.push_back(static_cast<char>(kind));
  PutU32(&k, shard);
  return k;
}

std::string RoundPrefix(absl::string_view job_id, uint32_t round) {
  std::string k = JobPrefix(job_id);
  PutU32(&k, round);
  return k;
}

std::string SampleKey(absl::string_view job_id, uint32_t round, uint32_t problem, uint32_t sample) {
  std::string k = RoundPrefix(job_id, round);
  PutU32(&k, problem);
  PutU32(&k, sample);
  return k;
}

std::string EvalKey(absl::string_view job_id, uint32_t round, uint32_t problem, uint16_t setting) {
  std::string k = RoundPrefix(job_id, round);
  PutU32(&k, problem);
  PutU16(&k, setting);
  return k;
}

bool ParseSampleKey(absl::string_view key, SampleKeyParts* out) {
  const size_t nul = key.find('\0');
  if (nul == absl::string_view::npos || key.size() != nul + 1 + 12) return false;
  out->job_id = std::string(key.substr(0, nul));
  out->round = GetU32(key.substr(nul + 1));
  out->problem = GetU32(key.substr(nul + 5));
  out->sample = GetU32(key.substr(nul + 9));
  return true;
}

bool ParseEvalKey(absl::string_view key, EvalKeyParts* out) {
  const size_t nul = key.find('\0');
  if (nul == absl::string_view::npos || key.size() != nul + 1 + 10) return false;
  out->round = GetU32(key.substr(nul + 1));
  out->problem = GetU32(key.substr(nul + 5));
  out->setting = static_cast<uint16_t>((static_cast<uint8_t>(key[nul + 9]) << 8) | static_cast<uint8_t>(key[nul + 10]));
  return true;
}

bool ParseProblemKey(absl::string_view key, uint32_t* index) {
  if (key.size() < 4) return false;
  *index = GetU32(key.substr(key.size() - 4));
  return true;
}

}  // namespace ssd
