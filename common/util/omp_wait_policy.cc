#include "common/util/omp_wait_policy.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ssd {

namespace {
bool UserChosePolicy() { return std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr; }
}  // namespace

bool ShareCoresWithChildren() {
  if (UserChosePolicy()) return false;
  return ::setenv(kDefaultOmpWaitPolicy.variable, kDefaultOmpWaitPolicy.value, 1) == 0 &&
         ::setenv(kOmpPolicyMarker, "1", 1) == 0;
}

std::vector<std::pair<std::string, std::string>> SharedCoresEnvironment() {
  if (UserChosePolicy()) return {};
  return {{kDefaultOmpWaitPolicy.variable, kDefaultOmpWaitPolicy.value}, {kOmpPolicyMarker, "1"}};
}

std::string DescribeOmpWaitPolicy() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  if (policy == nullptr && spin == nullptr) return "libgomp's default (spin ~300000 iterations, then sleep)";
  std::string out;
  if (policy != nullptr) absl::StrAppend(&out, "OMP_WAIT_POLICY=", policy);
  if (spin != nullptr) absl::StrAppend(&out, out.empty() ? "" : " ", "GOMP_SPINCOUNT=", spin);
  const bool ours = std::getenv(kOmpPolicyMarker) != nullptr;
  absl::StrAppend(&out, ours ? " (set by the ssd launcher of this process, whose siblings share the cores)"
                             : " (from the environment)");
  return out;
}

}  // namespace ssd
