#include "common/util/openblas_core.h"

#include <dlfcn.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/util/cpu_features.h"

namespace ssd {
namespace {

// OpenBLAS 0.3's x86-64 cores with AVX2 kernels.
constexpr const char* kAvx2Cores[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator"};

}  // namespace

std::string BetterOpenBlasCore(const std::string& chosen, bool cpu_avx2_fma, bool cpu_avx512) {
  if (chosen.empty() || !cpu_avx2_fma) return "";
  for (const char* core : kAvx2Cores) {
    if (strcasecmp(chosen.c_str(), core) == 0) return "";
  }
  return cpu_avx512 ? "SkylakeX" : "Haswell";
}

std::string LoadedOpenBlasCore() {
  using CoreName = char* (*)();
  auto fn = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (fn == nullptr) return "";
  const char* name = fn();
  return name != nullptr ? name : "";
}

void ReexecWithBetterOpenBlasCore(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const std::string chosen = LoadedOpenBlasCore();
  const std::string better = BetterOpenBlasCore(chosen, CpuHasAvx2Fma(), CpuHasAvx512SkylakeX());
  if (better.empty()) return;
  setenv("OPENBLAS_CORETYPE", better.c_str(), 1);
  setenv(kOpenBlasCoreMarker, chosen.c_str(), 1);
  execv("/proc/self/exe", argv);
  // Only reached if the exec failed: go on with OpenBLAS's own choice (it is
  // loaded already), and leave the environment as the user gave it.
  std::fprintf(stderr, "ssd: could not re-execute with OPENBLAS_CORETYPE=%s (%s); matmuls keep OpenBLAS's %s kernels\n",
               better.c_str(), std::strerror(errno), chosen.c_str());
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv(kOpenBlasCoreMarker);
}

std::string DescribeOpenBlasCore() {
  const std::string core = LoadedOpenBlasCore();
  if (core.empty()) return "no OpenBLAS loaded";
  const char* replaced = std::getenv(kOpenBlasCoreMarker);
  if (replaced != nullptr) {
    return core + " (set by ssd: OpenBLAS chose " + replaced + ", which has no AVX2 kernels, for this CPU)";
  }
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return core + " (OPENBLAS_CORETYPE from the environment)";
  return core + " (OpenBLAS's choice)";
}

}  // namespace ssd
