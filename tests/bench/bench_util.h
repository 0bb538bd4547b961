// Shared pieces of the libtorch benchmarks: timing, this machine's peak
// matmul rate, FLOP counts, the benchmark model, and running the Python
// reference (which runs before and after the measured code and is averaged,
// so drift in machine load biases neither side).
#ifndef SSD_TESTS_BENCH_BENCH_UTIL_H_
#define SSD_TESTS_BENCH_BENCH_UTIL_H_

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
// Matmul FLOPs per token of the linear layers and the lm_head.
double LinearFlopsPerToken(const ModelConfig& c);
// Attention FLOPs (QK^T and PV) for one token attending to `ctx` keys.
double AttentionFlops(const ModelConfig& c, double ctx);
// The benchmark model: qwen3, 6 layers, hidden 256, vocab 32000 (12.9M
// parameters); `smoke` gives a seconds-long toy for CI.
ModelConfig BenchModelConfig(bool smoke);
// Runs /usr/bin/python3 tests/reference/hf_reference.py with `args` and
// parses its JSON line; false (with a message on stderr) on failure.
bool RunPythonReference(const std::vector<std::string>& args, nlohmann::json* out);

}  // namespace ssd

#endif  // SSD_TESTS_BENCH_BENCH_UTIL_H_
