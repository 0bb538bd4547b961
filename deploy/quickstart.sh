#!/usr/bin/env bash
# One round of Simple Self-Distillation on this machine, from nothing:
#   1. installs what is missing and builds `ssd` (skipped when built);
#   2. runs deploy/examples/quickstart.yaml on a local cluster (`ssd local`:
#      a coordinator, 2 samplers and 2 trainers as processes on 127.0.0.1):
#      evaluate the committed tiny-code base model, sample every train
#      prompt at T 1.5 / top-k 20 / top-p 0.8, drop empty samples and the
#      shortest 10%, SFT on the rest, push the weights to the samplers,
#      evaluate the SSD model;
#   3. prints the before/after table and writes report.json (for scripts)
#      and report.html (charts) beside it;
#   4. runs `ssd analyze` on the base and the SSD model (analysis.html): the
#      tail mass at lock tokens and the spread at fork tokens, before/after.
#
#   deploy/quickstart.sh
#   deploy/quickstart.sh --out /tmp/qs --port 7070
#
# No verifier, teacher or reward: the model learns from its own unchecked
# samples. The eval problems are graded by running the programs in
# bubblewrap. Everything the job writes goes under --out; the processes are
# stopped on exit and on Ctrl-C.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build/quickstart"
spec="$root/deploy/examples/quickstart.yaml"
ssd="${SSD_BIN:-$root/build/bin/ssd}"
python=/usr/bin/python3
bwrap="${SSD_BWRAP:-/usr/bin/bwrap}"
port=0
samplers=2
trainers=2
min_free_mb=1024
build=1

usage() {
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
  cat <<EOF

Options (defaults in brackets):
  --out DIR          where the run, the distilled model and the reports go [build/quickstart]
  --spec FILE        the job spec [deploy/examples/quickstart.yaml]
  --port N           the coordinator's port; 0 or in use: a free one [0]
  --samplers N       sampler processes [$samplers]
  --trainers N       trainer processes [$trainers]
  --min-free-mb N    refuse to start with less free space under --out [$min_free_mb]
  --no-build         fail instead of installing and building when ssd is missing
EOF
}

die() {
  echo "quickstart: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --spec) spec="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --samplers) samplers="$2"; shift 2 ;;
    --trainers) trainers="$2"; shift 2 ;;
    --min-free-mb) min_free_mb="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

for n in port samplers trainers min_free_mb; do
  [[ ${!n} =~ ^[0-9]+$ ]] || die "--${n//_/-}: must be a whole number, got '${!n}'"
done
[ -r "$spec" ] || die "--spec $spec: cannot read it"
start=$(date +%s)

# --- checks before any work -------------------------------------------------
mkdir -p "$out" 2>/dev/null || die "--out $out: cannot create it"
out="$(cd "$out" && pwd)"
probe="$out/.quickstart-write-test.$$"
if ! (: >"$probe") 2>/dev/null; then
  die "--out $out: not writable (read-only file system or no permission); pass --out with a writable folder"
fi
rm -f "$probe"
free_mb=$(df -Pm "$out" | awk 'NR == 2 { print $4 }')
if [ "${free_mb:-0}" -lt "$min_free_mb" ]; then
  die "--out $out: only ${free_mb} MiB free, the run needs about $min_free_mb MiB (checkpoints, samples, logs); free some space or pass another --out"
fi

if [ ! -x "$ssd" ]; then
  [ "$build" = 1 ] || die "$ssd: not built (run deploy/test.sh, or drop --no-build)"
  echo "quickstart: installing what is missing, then building ssd into build/"
  # Only what the build and the job need: not the tests' references (npm,
  # Debian's python torch, chromium), nor the deploy tests' Docker and
  # Slurm, whose packages would start services on this machine.
  "$root/deploy/install-deps.sh" --quickstart
  cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" --target ssd --parallel "$(nproc)"
fi
[ -x "$python" ] || die "$python is missing: the graders run the model's programs with it (apt-get install python3)"
[ -x "$bwrap" ] || die "$bwrap is missing: eval answers are model-written code and run only in bubblewrap (apt-get install bubblewrap)"
if ! "$bwrap" --ro-bind / / --unshare-all --die-with-parent /usr/bin/true 2>/dev/null; then
  die "$bwrap cannot create a sandbox here (it needs user namespaces: sysctl kernel.unprivileged_userns_clone=1 or user.max_user_namespaces > 0)"
fi

# --- the job ----------------------------------------------------------------
# The spec with its paths made absolute and its output under --out.
job="$out/job.yaml"
"$python" "$root/deploy/quickstart_report.py" spec --spec "$spec" --output-dir "$out/runs" --out "$job" ||
  die "--spec $spec: see the message above"

cluster="$out/cluster"
rm -rf "$cluster" "$out/runs" "$out/report.json" "$out/report.html" "$out/table.md" "$out/analysis".*
child=0
stop() {
  if [ "$child" -gt 0 ] && kill -0 "$child" 2>/dev/null; then
    # ssd local stops its own children on SIGTERM; the group kill is the backstop.
    kill -TERM "$child" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$child" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
}
trap 'stop; echo "quickstart: interrupted; every process was stopped" >&2; exit 130' INT TERM
trap stop EXIT

echo "quickstart: job $job on $samplers sampler(s) and $trainers trainer(s); state and logs in $cluster"
# Its own process group (set -m), so that one kill reaches every process.
set -m
"$ssd" local "$job" --data-dir "$cluster" --samplers "$samplers" --trainers "$trainers" --port "$port" &
child=$!
set +m
rc=0
wait "$child" || rc=$?
child=0
[ "$rc" -eq 0 ] || die "the job did not succeed (exit $rc); logs are in $cluster/logs"

# --- the reports ------------------------------------------------------------
"$python" "$root/deploy/quickstart_report.py" report --job "$cluster/report.json" --out "$out"

# --- the mechanism ----------------------------------------------------------
# Where SSD changed the model: solutions sampled from the base on the first
# eval problems, scored by both models (tail mass at lock tokens, spread at
# fork tokens; common/analysis/README.md).
mapfile -t m < <("$python" -c '
import json, sys
spec = json.load(open(sys.argv[1]))["spec"]
print(spec["model"], spec["eval"]["benchmark"], spec["eval"].get("max_tokens", 256),
      json.load(open(sys.argv[2]))["distilled_model"], sep="\n")' "$cluster/report.json" "$out/report.json")
[ "${#m[@]}" -eq 4 ] || die "$out/report.json: no distilled model to analyse"
echo
echo "quickstart: the mechanism (ssd analyze, 60 eval problems)"
"$ssd" analyze --base "${m[0]}" --tuned "${m[3]}" --benchmark "${m[1]}" --max-problems 60 --max-tokens "${m[2]}" \
  --out "$out/analysis.html" 2>"$out/analysis.log" ||
  die "ssd analyze failed; see $out/analysis.log"
echo "quickstart: done in $(($(date +%s) - start)) s"
