// Shared pieces of the libtorch benchmarks: timing, this machine's peak
// matmul rate, FLOP counts, the benchmark model, and running the Python
// reference (which runs before and after the measured code and is averaged,
// so drift in machine load biases neither side).
#ifndef SSD_TESTS_BENCH_BENCH_UTIL_H_
#define SSD_TESTS_BENCH_BENCH_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/model/model_config.h"
#include "nlohmann/json.hpp"

namespace ssd {

double Seconds(const std::function<void()>& fn);
double MedianSeconds(const std::function<void()>& fn, int repeats);
// Best square fp32 at::mm rate among 512/1024/2048.
double PeakMatmulFlops(int repeats);
// The largest data cache of CPU 0 (the last level) in bytes, from sysfs; 0
// where sysfs does not say.
int64_t LastLevelCacheBytes();
// Best rate (bytes/s) at which `threads` threads read a 512 MiB array, or
// one of 4x the last-level cache where that is larger (far past the caches), each streaming its own half with vector
// loads (AVX2, and AVX-512 where the CPU has it; each with and without software prefetch): the memory bandwidth a
// batch-1 decode step can at best stream weights with.
double ReadBandwidthBytesPerSecond(int threads, int repeats);
// Bytes of weights one decode step streams: every matrix of the layers and
// the lm_head (the embedding is only indexed), at `bytes_per_weight`.
double DecodeWeightBytes(const ModelConfig& c, double bytes_per_weight);
// Matmul FLOPs per token of the linear layers and the lm_head (of a MoE
// layer, the router and the k active experts).
double LinearFlopsPerToken(const ModelConfig& c);
// Attention FLOPs (QK^T and PV) for one token attending to `ctx` keys.
double AttentionFlops(const ModelConfig& c, double ctx);
// The benchmark model: qwen3, 6 layers, hidden 256, vocab 32000 (12.9M
// parameters); `smoke` gives a seconds-long toy for CI.
ModelConfig BenchModelConfig(bool smoke);

// The mixture-of-experts bench model: qwen3_moe, 6 layers, hidden 512,
// vocabulary 4,096 (the lm_head a small share of the active parameters, as
// in Qwen3-30B-A3B), `experts` experts of width 192, top-4; 1 layer and a
// 256-token vocabulary when smoke.
ModelConfig BenchMoeConfig(bool smoke, int64_t experts = 64);
// Runs /usr/bin/python3 tests/reference/hf_reference.py with `args` and
// parses its JSON line; false (with a message on stderr) on failure.
bool RunPythonReference(const std::vector<std::string>& args, nlohmann::json* out);

}  // namespace ssd

#endif  // SSD_TESTS_BENCH_BENCH_UTIL_H_
