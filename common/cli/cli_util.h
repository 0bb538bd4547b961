// Helpers shared by the `ssd` subcommands: parsing list flags and printing.
#ifndef SSD_COMMON_CLI_CLI_UTIL_H_
#define SSD_COMMON_CLI_CLI_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ssd {

// The environment variable `name`, or `fallback` when it is unset or empty.
std::string Env(const char* name, const std::string& fallback = "");
// Milliseconds since the Unix epoch.
int64_t WallMs();

// Parses "5,17,300" into ids, each in [0, limit). The error names the flag,
// the offending element and its position.
absl::StatusOr<std::vector<int64_t>> ParseIdList(absl::string_view flag, absl::string_view text, int64_t limit);

// Prints `status` as "ssd <command>: <message>" to stderr and returns the
// process exit code (0 for OK, 1 otherwise; 2 for InvalidArgument, the
// user's input being wrong).
int ReportStatus(absl::string_view command, const absl::Status& status);

// Threads for a command: `requested` when > 0, else this machine's cores
// split evenly between `sharers` processes (at least 1).
int CpuThreads(int requested, int sharers = 1);

// Programs graded at once: `requested` when > 0, else two per core. Grading
// waits mostly on process start-up (bubblewrap, Python, the harness), so
// more programs than cores keep the cores busy: on 2 cores, 4 at a time
// graded 1.3-1.4x faster than 2, and 8 only 1.1x faster than 4
// (eval_bench --sweep-parallel, tests/bench/results/eval_bench_*_2026-12-01.md).
int GradingParallelism(int requested);

// "[1,2,3]"
std::string JsonIntArray(const std::vector<int64_t>& values);
// "[0.123456791,-1.5]" with 9 significant digits, enough to round-trip float32.
std::string JsonFloatArray(const float* values, size_t n);

}  // namespace ssd

#endif  // SSD_COMMON_CLI_CLI_UTIL_H_
