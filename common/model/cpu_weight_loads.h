// Weights as fp32 values, whether stored as fp32 or as bf16 bits (the upper
// half of an fp32, so widening is exact): one at a time and eight at a time
// (AVX2). Internal to the CPU kernels (cpu_rows.cc, cpu_packed_matmul.cc);
// include after <immintrin.h>.
#ifndef SSD_COMMON_MODEL_CPU_WEIGHT_LOADS_H_
#define SSD_COMMON_MODEL_CPU_WEIGHT_LOADS_H_

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace ssd {
namespace cpu {

inline float WeightValue(float w) { return w; }
inline float WeightValue(uint16_t w) {
  const uint32_t bits = static_cast<uint32_t>(w) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

__attribute__((target("avx2,fma"))) inline __m256 LoadW8(const float* w) { return _mm256_loadu_ps(w); }
__attribute__((target("avx2,fma"))) inline __m256 LoadW8(const uint16_t* w) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

}  // namespace cpu
}  // namespace ssd

#endif  // SSD_COMMON_MODEL_CPU_WEIGHT_LOADS_H_
