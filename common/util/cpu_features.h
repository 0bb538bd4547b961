// What this x86-64 CPU's vector units can run, asked once per process
// (cpuid through the compiler's __builtin_cpu_supports). One place for the
// kernels' run-time dispatch (model, sampler) and for choosing OpenBLAS's
// kernels; policy (such as $SSD_CPU_NO_AVX512) stays with the callers.
#ifndef SSD_COMMON_UTIL_CPU_FEATURES_H_
#define SSD_COMMON_UTIL_CPU_FEATURES_H_

namespace ssd {

// AVX2 alone (integer and float compares, masks, no FMA needed).
bool CpuHasAvx2();
// AVX2 and FMA: the fp32 kernels' baseline.
bool CpuHasAvx2Fma();
// AVX-512 F and DQ: what the decode kernels' AVX-512 tiles use.
bool CpuHasAvx512FDq();
// AVX-512 F, CD, BW, DQ and VL: the set OpenBLAS's SkylakeX kernels assume.
bool CpuHasAvx512SkylakeX();

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_CPU_FEATURES_H_
