#!/usr/bin/env bash
# Installs missing dependencies, builds into build/ and runs the CPU tests:
# every tier but `slow` (CMakePresets.json, presets `ci` and `sanitize`).
#   deploy/test.sh                # build/ (Release, unity batches), all but slow
#   deploy/test.sh --sanitize     # the torch-free tests under ASan + UBSan
#   deploy/test.sh -L unit        # extra arguments go to ctest
#   SSD_BUILD_TYPE=Debug deploy/test.sh
#   SSD_REQUIRE_ALL=1 deploy/test.sh  # a missing prerequisite (bubblewrap,
#                                 # the HumanEval file, Slurm, network
#                                 # namespaces, kubectl) fails, not skips
#
# --sanitize builds into build-sanitize/ with -fsanitize=address,undefined
# -fno-sanitize-recover=all, one translation unit per source (so a missing
# include fails there), and runs every test whose executable links no
# libtorch (the list CMake writes to build-sanitize/sanitize_tests.txt):
# util, storage, rpc, metrics, model format, tokenizer, eval, filter, the
# coordinator and replay store, and the fuzz targets' replays. Any report
# (a leak included) fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
if [[ ${1:-} == --sanitize ]]; then
  sanitize=1
  shift
fi

./deploy/install-deps.sh

build_type=${SSD_BUILD_TYPE:-Release}
jobs=${SSD_JOBS:-$(nproc)}
if ((sanitize)); then
  # The preset compiles at -O0: one translation unit per source (unity off)
  # at -O1 made this build twice as long, and CI's budget is in the build;
  # the instrumented tests run longer at -O0 but find the same errors.
  cmake --preset sanitize
  cmake --build --preset sanitize --parallel "$jobs"
  regex="^($(paste -sd'|' build-sanitize/sanitize_tests.txt))\$"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS="suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0"
  cd build-sanitize
  echo "sanitize: $(wc -l <sanitize_tests.txt) torch-free tests under ASan and UBSan"
  ctest --label-exclude 'gpu|slow' --output-on-failure --parallel "$jobs" -R "$regex" "$@"
  exit
fi
cmake --preset ci -DCMAKE_BUILD_TYPE="$build_type"
cmake --build --preset ci --parallel "$jobs"
ctest --preset ci --parallel "$jobs" "$@"
