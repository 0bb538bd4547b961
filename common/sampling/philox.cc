#include "common/sampling/philox.h"

#include "common/util/hash.h"

namespace ssd {

std::array<uint32_t, 4> Philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  // Round multipliers and Weyl key increments from the Philox paper.
  constexpr uint64_t kM0 = 0xD2511F53, kM1 = 0xCD9E8D57;
  constexpr uint32_t kW0 = 0x9E3779B9, kW1 = 0xBB67AE85;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = kM0 * c[0], p1 = kM1 * c[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    k[0] += kW0;
    k[1] += kW1;
  }
  return c;
}

uint64_t PromptKey(std::string_view prompt_id) {
  return Fnv1a64(absl::string_view(prompt_id.data(), prompt_id.size()));
}

uint64_t SampleStreamSeed(uint64_t seed, uint64_t prompt_key, uint32_t sample_index) {
  // The last counter word separates this derivation from the streams'
  // counters, which never reach it (a step is below 2^31 in practice and
  // StreamUniform's counter ends in a zero word).
  const std::array<uint32_t, 4> r = Philox4x32(
      {static_cast<uint32_t>(prompt_key), static_cast<uint32_t>(prompt_key >> 32), sample_index, 0x53534431u},
      {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
  return (static_cast<uint64_t>(r[0]) << 32) | r[1];
}

double StreamUniform(uint64_t stream_seed, uint32_t step) {
  const std::array<uint32_t, 4> r =
      Philox4x32({step, 0, 0, 0}, {static_cast<uint32_t>(stream_seed), static_cast<uint32_t>(stream_seed >> 32)});
  const uint64_t bits = (static_cast<uint64_t>(r[0]) << 21) ^ (r[1] >> 11);  // 53 bits
  return static_cast<double>(bits & ((1ULL << 53) - 1)) * (1.0 / 9007199254740992.0);
}

double SampleUniform(uint64_t seed, uint64_t prompt_key, uint32_t sample_index, uint32_t step) {
  return StreamUniform(SampleStreamSeed(seed, prompt_key, sample_index), step);
}

}  // namespace ssd
