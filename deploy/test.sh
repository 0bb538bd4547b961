#!/usr/bin/env bash
# Installs missing dependencies, builds into build/ and runs the CPU tests.
#   deploy/test.sh                # everything
#   deploy/test.sh --sanitize     # the torch-free tests under ASan + UBSan
#   SSD_BUILD_TYPE=Debug deploy/test.sh
# Extra arguments are passed to ctest (e.g. -R decoder).
#
# --sanitize builds into build-sanitize/ with -fsanitize=address,undefined
# -fno-sanitize-recover=all and runs every test whose executable links no
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
  # -O1: AddressSanitizer's documentation asks for -O1 or higher for usable
  # speed; more only lengthens the instrumented build.
  cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DSSD_SANITIZE=ON
  cmake --build build-sanitize --parallel "$jobs" --target sanitize_tests
  regex="^($(paste -sd'|' build-sanitize/sanitize_tests.txt))\$"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS="suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0"
  cd build-sanitize
  echo "sanitize: $(wc -l <sanitize_tests.txt) torch-free tests under ASan and UBSan"
  ctest --label-exclude gpu --output-on-failure --parallel "$jobs" -R "$regex" "$@"
  exit
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$build_type"
cmake --build build --parallel "$jobs"
cd build
ctest --label-exclude 'gpu|load|docker|slow' --output-on-failure --parallel "$jobs" "$@"
