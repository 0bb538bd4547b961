#include "common/cli/omp_wait_policy.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ssd {

bool CommandUsesOpenMp(absl::string_view command) {
  // Commands that only talk to a coordinator, read files or run Python in
  // the sandbox: a re-exec would cost them start-up time for nothing.
  for (const char* c : {"coordinator", "certs", "submit", "jobs", "status", "watch", "cancel", "workers", "stats",
                        "export", "import", "tokenize", "detokenize", "chat-template", "tokenizer", "filter",
                        "eval-code"}) {
    if (command == c) return false;
  }
  return !command.empty() && command[0] != '-';  // `ssd --help` needs nothing either
}

void ApplyDefaultOmpWaitPolicy(int argc, char** argv) {
  if (argc < 2 || !CommandUsesOpenMp(argv[1])) return;
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (::setenv(kDefaultOmpWaitPolicy.variable, kDefaultOmpWaitPolicy.value, 1) != 0 ||
      ::setenv(kOmpPolicyMarker, "1", 1) != 0) {
    return;
  }
  ::execv("/proc/self/exe", argv);
  std::fprintf(stderr, "ssd: could not restart with %s=%s (%s); running with libgomp's default wait policy\n",
               kDefaultOmpWaitPolicy.variable, kDefaultOmpWaitPolicy.value, std::strerror(errno));
}

std::string DescribeOmpWaitPolicy() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  if (policy == nullptr && spin == nullptr) return "libgomp's default (spin ~300000 iterations, then sleep)";
  std::string out;
  if (policy != nullptr) absl::StrAppend(&out, "OMP_WAIT_POLICY=", policy);
  if (spin != nullptr) absl::StrAppend(&out, out.empty() ? "" : " ", "GOMP_SPINCOUNT=", spin);
  const bool ours = std::getenv(kOmpPolicyMarker) != nullptr;
  absl::StrAppend(&out, ours ? " (ssd's default for a shared machine; set either variable to override)"
                             : " (from the environment)");
  return out;
}

}  // namespace ssd
