#include "common/util/cpu_features.h"

namespace ssd {

bool CpuHasAvx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}

bool CpuHasAvx2Fma() {
  static const bool yes = CpuHasAvx2() && __builtin_cpu_supports("fma");
  return yes;
}

bool CpuHasAvx512FDq() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  return yes;
}

bool CpuHasAvx512SkylakeX() {
  static const bool yes = CpuHasAvx512FDq() && __builtin_cpu_supports("avx512cd") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return yes;
}

}  // namespace ssd
