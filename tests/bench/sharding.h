// trainer_bench --sharding: what sharded data parallel (train.sharding,
// trainer_worker/sharded_model.h) saves per rank and what it costs.
//
//   build/bin/trainer_bench --sharding [--world 4] [--steps 2] [--smoke]
//
// Memory: each of none, optimizer, gradients and full trains a model of
// 160 M parameters on `world` processes over Gloo (one thread each); every
// rank reports its model-state bytes (what the trainer allocated for
// parameters, gradients and AdamW) and its peak RSS, beside `ssd plan`'s
// prediction for the same run. Speed: none and full at world size 2 on a
// larger micro-batch, where compute dominates, in tokens/s, with the time
// spent in collectives per step.
//
// Each run is a fresh set of processes; reports ratios and asserts nothing.
#ifndef SSD_TESTS_BENCH_SHARDING_H_
#define SSD_TESTS_BENCH_SHARDING_H_

namespace ssd {

// argv after "--sharding" (or "--sharding-rank", one rank of a run).
int ShardingMain(int argc, char** argv, bool rank);

}  // namespace ssd

#endif  // SSD_TESTS_BENCH_SHARDING_H_
