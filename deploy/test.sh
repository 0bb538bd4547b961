#!/usr/bin/env bash
# Installs missing dependencies, builds into build/ and runs the CPU tests.
#   deploy/test.sh                # everything
#   SSD_BUILD_TYPE=Debug deploy/test.sh
# Extra arguments are passed to ctest (e.g. -R decoder).
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/install-deps.sh

build_type=${SSD_BUILD_TYPE:-Release}
jobs=${SSD_JOBS:-$(nproc)}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$build_type"
cmake --build build --parallel "$jobs"
cd build
ctest --label-exclude gpu --output-on-failure --parallel "$jobs" "$@"
