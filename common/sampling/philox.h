// Counter-based random numbers for sampling: Philox4x32-10 (Salmon et al.,
// "Parallel Random Numbers: As Easy as 1, 2, 3", SC'11).
//
// A counter-based generator has no state: the output is a pure function of
// (key, counter). Each sample has its own stream, keyed by a 64-bit stream
// seed that is itself derived from (request seed, prompt key, sample index);
// the stream counts steps. So the uniform number that picks token `step` of
// sample `sample_index` of a prompt is the same on every worker, in every
// batch and after every restart, and a sample's whole stream travels as one
// number: an OpenAI request's `seed` (the openai backend sends each sample's
// stream seed, and `ssd serve` draws a seeded request's first choice from
// exactly that stream).
#ifndef SSD_COMMON_SAMPLING_PHILOX_H_
#define SSD_COMMON_SAMPLING_PHILOX_H_

#include <array>
#include <cstdint>
#include <string_view>

namespace ssd {

// Ten rounds of Philox4x32 on `counter` under `key`.
std::array<uint32_t, 4> Philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// A stable 64-bit key for a prompt id (FNV-1a over its bytes): the same
// string gives the same key on every machine and in every version.
uint64_t PromptKey(std::string_view prompt_id);

// The stream seed of sample `sample_index` of the prompt `prompt_key` under
// the request seed `seed`.
uint64_t SampleStreamSeed(uint64_t seed, uint64_t prompt_key, uint32_t sample_index);

// The uniform number in [0, 1) (53 random bits) for step `step` of the
// stream `stream_seed`.
double StreamUniform(uint64_t stream_seed, uint32_t step);

// StreamUniform(SampleStreamSeed(seed, prompt_key, sample_index), step).
double SampleUniform(uint64_t seed, uint64_t prompt_key, uint32_t sample_index, uint32_t step);

}  // namespace ssd

#endif  // SSD_COMMON_SAMPLING_PHILOX_H_
