// SplitMix64 (Steele, Lea and Flood): a 64-bit counter-based generator. Its
// finalizer alone is a strong 64-bit mixer; Next() steps a state by the
// golden-ratio increment and mixes it. Used wherever a seeded draw must be
// the same on every machine (shuffles, noise, hashing).
#ifndef SSD_COMMON_UTIL_SPLITMIX64_H_
#define SSD_COMMON_UTIL_SPLITMIX64_H_

#include <cstdint>

namespace ssd {

inline uint64_t SplitMix64Finalize(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline uint64_t SplitMix64Next(uint64_t* state) { return SplitMix64Finalize(*state += 0x9e3779b97f4a7c15ull); }

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_SPLITMIX64_H_
