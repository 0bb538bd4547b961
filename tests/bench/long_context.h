// trainer_bench --long-context: training memory and time on one long
// sequence, with activation checkpointing, blockwise attention and the
// chunked loss (trainer_worker/README.md, "Long sequences").
//
//   build/bin/trainer_bench --long-context [--lengths 8192,16384,32768,65536]
//       [--threads 2] [--limit-gb 16] [--smoke]
//
// Each measured run is a fresh child process (peak RSS is per process),
// under an address-space limit so a run that does not fit fails cleanly.
// Beside each peak: `ssd plan`'s activations, logits and attention for the
// same run (memory_plan.h).
#ifndef SSD_TESTS_BENCH_LONG_CONTEXT_H_
#define SSD_TESTS_BENCH_LONG_CONTEXT_H_

namespace ssd {

// argv after "--long-context" (or "--long-context-child", the internal run).
int LongContextMain(int argc, char** argv, bool child);

}  // namespace ssd

#endif  // SSD_TESTS_BENCH_LONG_CONTEXT_H_
