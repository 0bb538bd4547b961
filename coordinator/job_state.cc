#include "coordinator/job_state.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ssd {

bool IsTerminal(v1::JobState s) {
  return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_FAILED || s == v1::JOB_STATE_CANCELLED;
}

bool IsAllowedTransition(v1::JobState from, v1::JobState to) {
  if (IsTerminal(from)) return false;
  if (to == v1::JOB_STATE_FAILED || to == v1::JOB_STATE_CANCELLED) return true;
  switch (from) {
    case v1::JOB_STATE_PENDING:
      return to == v1::JOB_STATE_SAMPLING || to == v1::JOB_STATE_EVALUATING || to == v1::JOB_STATE_FILTERING;
    case v1::JOB_STATE_SAMPLING: return to == v1::JOB_STATE_FILTERING;
    case v1::JOB_STATE_FILTERING: return to == v1::JOB_STATE_TRAINING;
    case v1::JOB_STATE_TRAINING: return to == v1::JOB_STATE_PUSHING || to == v1::JOB_STATE_SUCCEEDED;
    case v1::JOB_STATE_PUSHING: return to == v1::JOB_STATE_EVALUATING || to == v1::JOB_STATE_SAMPLING;
    case v1::JOB_STATE_EVALUATING: return to == v1::JOB_STATE_SAMPLING || to == v1::JOB_STATE_SUCCEEDED;
    default: return false;
  }
}

std::string JobStateName(v1::JobState s) {
  std::string n = v1::JobState_Name(s);
  constexpr absl::string_view kPrefix = "JOB_STATE_";
  return absl::StartsWith(n, kPrefix) ? n.substr(kPrefix.size()) : n;
}

bool ParseJobStateName(absl::string_view name, v1::JobState* out) {
  const std::string upper = absl::AsciiStrToUpper(name);
  return v1::JobState_Parse(absl::StrCat("JOB_STATE_", upper), out) && *out != v1::JOB_STATE_UNSPECIFIED;
}

namespace {
std::string Strip(const std::string& n, absl::string_view prefix) {
  return absl::StartsWith(n, prefix) ? n.substr(prefix.size()) : n;
}
}  // namespace

std::string WorkerRoleName(v1::WorkerRole r) { return Strip(v1::WorkerRole_Name(r), "WORKER_ROLE_"); }
std::string WorkerStateName(v1::WorkerState s) { return Strip(v1::WorkerState_Name(s), "WORKER_STATE_"); }
std::string LeaseKindName(v1::LeaseKind k) { return Strip(v1::LeaseKind_Name(k), "LEASE_KIND_"); }

std::string DifficultyName(v1::Difficulty d) {
  switch (d) {
    case v1::DIFFICULTY_EASY: return "easy";
    case v1::DIFFICULTY_MEDIUM: return "medium";
    case v1::DIFFICULTY_HARD: return "hard";
    default: return "";
  }
}

absl::StatusOr<v1::Difficulty> ParseDifficulty(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower.empty()) return v1::DIFFICULTY_UNSPECIFIED;
  if (lower == "easy") return v1::DIFFICULTY_EASY;
  if (lower == "medium") return v1::DIFFICULTY_MEDIUM;
  if (lower == "hard") return v1::DIFFICULTY_HARD;
  return absl::InvalidArgumentError(absl::StrCat("difficulty: must be easy, medium or hard, got \"", name, "\""));
}

}  // namespace ssd
