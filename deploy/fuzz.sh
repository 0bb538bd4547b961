#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan
# (-fno-sanitize-recover) into build-fuzz/, and runs one target or all of
# them for SECONDS each.
#   deploy/fuzz.sh                      # list the targets
#   deploy/fuzz.sh TARGET SECONDS       # e.g. deploy/fuzz.sh chat_template 600
#   deploy/fuzz.sh all SECONDS
# Seeds come from tests/fuzz/corpus/TARGET (never written to); what the
# fuzzer learns accumulates in build-fuzz/corpus/TARGET. A crash, leak,
# timeout or out-of-memory input is saved under tests/fuzz/regressions/TARGET/,
# where every ordinary build replays it as a test (label `fuzz`): commit it
# with its fix. Ends with a line per target: executions/s, coverage (edges,
# features) and the corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=$(sed -n 's/^  \([a-z_]*\):ssd_[a-z_]*)\{0,1\}$/\1/p' tests/fuzz/CMakeLists.txt)
if (($# < 2)); then
  echo "usage: deploy/fuzz.sh TARGET|all SECONDS"
  echo "targets:" $targets
  exit 2
fi
want=$1
seconds=$2
if [[ $want == all ]]; then
  run=$targets
elif grep -qx "$want" <<<"$targets"; then
  run=$want
else
  echo "fuzz.sh: no target \"$want\"; targets: $targets" >&2
  exit 2
fi

./deploy/install-deps.sh --fuzz
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DSSD_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build build-fuzz --target $(for t in $run; do echo "${t}_fuzz"; done)

summary=()
status=0
for t in $run; do
  mkdir -p "build-fuzz/corpus/$t" "tests/fuzz/regressions/$t"
  log="build-fuzz/$t.log"
  echo "== $t for ${seconds}s (log: $log)"
  set +e
  "build-fuzz/fuzz/${t}_fuzz" "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" \
    -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="tests/fuzz/regressions/$t/" >"$log" 2>&1
  rc=$?
  set -e
  rmdir "tests/fuzz/regressions/$t" 2>/dev/null || true
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  units=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
  verdict=clean
  if ((rc != 0)); then
    verdict="FINDING (exit $rc; see $log and tests/fuzz/regressions/$t/)"
    status=1
  fi
  summary+=("$t: ${execs:-?} exec/s, cov ${cov:-?} edges, ft ${ft:-?}, corpus ${units:-?}: $verdict")
done
printf '%s\n' "${summary[@]}"
exit $status
