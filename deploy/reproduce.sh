#!/usr/bin/env bash
# deploy/REPRODUCE.md's table: the whole SSD pipeline once per seed, with
# the benchmark, the base model and the SSD round all seeded by it, then the
# mean and 95% interval over seeds (deploy/reproduce_table.py).
#
# Per seed S, under OUT/seed-S:
#   1. tiny-code/   the benchmark, deploy/tiny-code/make_tiny_code.py --seed S
#                   (seed 1 makes exactly the committed split);
#   2. base/        a base by deploy/make-base.sh --seed S with the committed
#                   base's recipe (20 epochs at lr 2e-3, 4,096-token batches,
#                   20 to 35 minutes on 2 cores, by CPU), converted to bf16 as the
#                   committed one is; with --reuse-committed, seed 1 takes
#                   deploy/models/tiny-code-base instead (the recipe's output
#                   on this machine type, bit for bit: its README);
#   3. run/         the quickstart's job (deploy/examples/quickstart.yaml) on
#                   that base and benchmark, its sampling and training seeds
#                   set to S, through deploy/quickstart.sh.
#
# It resumes: a seed whose run/report.json exists is not run again, and a
# base whose bf16 model exists is not rebuilt. Everything runs one step at a
# time (each step uses both cores).
#
#   deploy/reproduce.sh [--seeds 1,2,3] [--out build/reproduce] [--reuse-committed]
#
# --spec, --train, --eval, --extra and --base-flags change the job, the benchmark's
# size and the base recipe (tests/deploy/reproduce_test.py runs the whole
# script at a few seconds' size with them); --reuse-committed needs the
# defaults, since the committed base was made with them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ssd="${SSD_BIN:-$root/build/bin/ssd}"
python=/usr/bin/python3

seeds=1,2,3
out="$root/build/reproduce"
reuse=0
spec="$root/deploy/examples/quickstart.yaml"
train=2000
eval=200
default_extra=0
extra=$default_extra
default_base_flags="--epochs 20 --lr 2e-3 --batch-tokens 4096"
base_flags="$default_base_flags"
die() { echo "reproduce: $*" >&2; exit 1; }
usage() {
  sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
  cat <<EOF

Options (defaults in brackets):
  --seeds LIST        comma-separated seeds [$seeds]
  --out DIR           one folder per seed, the table and summary.json [build/reproduce]
  --reuse-committed   seed 1 takes the committed base instead of rebuilding it
  --spec FILE         the job the seeds' jobs are made from [deploy/examples/quickstart.yaml]
  --train N           problems in the benchmark's train split [$train]
  --eval N            problems in its eval split [$eval]
  --extra N           more problems the base alone trains on (make_tiny_code.py --extra,
                      make-base.sh --extra-problems); the job samples only train [$extra]
  --base-flags FLAGS  deploy/make-base.sh's recipe [$base_flags]
EOF
}
while (($#)); do
  case $1 in
    --seeds) seeds="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --reuse-committed) reuse=1; shift ;;
    --spec) spec="$2"; shift 2 ;;
    --train) train="$2"; shift 2 ;;
    --eval) eval="$2"; shift 2 ;;
    --extra) extra="$2"; shift 2 ;;
    --base-flags) base_flags="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
[[ $seeds =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--seeds: a comma-separated list of whole numbers, got '$seeds'"
[[ $train =~ ^[1-9][0-9]*$ ]] || die "--train: a positive whole number, got '$train'"
[[ $eval =~ ^[1-9][0-9]*$ ]] || die "--eval: a positive whole number, got '$eval'"
[[ $extra =~ ^(0|[1-9][0-9]*)$ ]] || die "--extra: a whole number, got '$extra'"
[ -x "$python" ] || die "$python is missing (apt-get install python3)"
[ -f "$spec" ] || die "--spec $spec: no such file"
# The spec's shape is checked here, before any seed's base is built; its
# field values are checked by the coordinator when the first seed's job starts.
"$python" - "$spec" <<'CHECK' || die "--spec $spec: see the message above"
import sys
try:
    import yaml
except ImportError:
    sys.exit("python3-yaml is missing (apt-get install python3-yaml, or run deploy/install-deps.sh)")
path = sys.argv[1]
try:
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
    sys.exit(f"{path}: not a readable YAML file: {e}")
if not isinstance(spec, dict):
    sys.exit(f"{path}: must be a mapping of job fields, got {type(spec).__name__}")
if not isinstance(spec.get("eval"), dict):
    sys.exit(f"{path}: eval: must be a mapping (the table compares the base and the SSD model by it)")
if spec["eval"].get("base") is not True:
    sys.exit(f"{path}: eval.base: must be true (the table needs the base's eval)")
for key in ("sampling", "train"):
    if key in spec and not isinstance(spec[key], dict):
        sys.exit(f"{path}: {key}: must be a mapping, got {type(spec[key]).__name__}")
CHECK
if ((reuse)) && { [ "$train" != 2000 ] || [ "$eval" != 200 ] || [ "$extra" != "$default_extra" ] ||
  [ "$base_flags" != "$default_base_flags" ]; }; then
  die "--reuse-committed: the committed base was made with --train 2000 --eval 200 --extra $default_extra --base-flags '$default_base_flags'; drop it or those flags"
fi
read -r -a base_argv <<<"$base_flags"
[ -x "$ssd" ] || die "$ssd: not built (run deploy/test.sh, or set SSD_BIN)"
mkdir -p "$out" || die "--out $out: cannot create it"
out="$(cd "$out" && pwd)"

dirs=()
IFS=, read -r -a list <<<"$seeds"
for s in "${list[@]}"; do
  dir="$out/seed-$s"
  dirs+=("$dir")
  if [ -f "$dir/run/report.json" ]; then
    echo "reproduce: seed $s already done ($dir/run/report.json)"
    continue
  fi
  mkdir -p "$dir"
  start=$(date +%s)

  echo "reproduce: seed $s: 1/3 tiny-code"
  "$python" "$root/deploy/tiny-code/make_tiny_code.py" --seed "$s" --train "$train" --eval "$eval" \
    --extra "$extra" --out "$dir/tiny-code" || die "seed $s: make_tiny_code.py failed"
  extra_argv=()
  if [ "$extra" != 0 ]; then
    extra_argv=(--extra-problems "$dir/tiny-code/extra.jsonl" --extra-solutions "$dir/tiny-code/extra_solutions.jsonl")
  fi

  base="$dir/base/bf16"
  if [ "$s" = 1 ] && [ "$reuse" = 1 ]; then
    base="$root/deploy/models/tiny-code-base"
    echo "reproduce: seed 1: 2/3 the committed base ($base)"
  elif [ -f "$base/model.safetensors" ]; then
    echo "reproduce: seed $s: 2/3 base already built ($base)"
  else
    echo "reproduce: seed $s: 2/3 base (deploy/make-base.sh $base_flags; the default recipe takes 20 to 35 minutes on 2 cores)"
    "$root/deploy/make-base.sh" --problems "$dir/tiny-code/train.jsonl" \
      --solutions "$dir/tiny-code/train_solutions.jsonl" "${extra_argv[@]}" --out "$dir/base" \
      --seed "$s" "${base_argv[@]}" >"$dir/base.log" 2>&1 ||
      { tail -20 "$dir/base.log" >&2; die "seed $s: make-base failed ($dir/base.log)"; }
    "$ssd" model convert --model "$dir/base/model" --dtype bf16 --out "$base.tmp" >>"$dir/base.log" 2>&1 ||
      die "seed $s: bf16 conversion failed ($dir/base.log)"
    rm -rf "$base" && mv "$base.tmp" "$base"
  fi

  echo "reproduce: seed $s: 3/3 the SSD job"
  "$python" - "$spec" "$dir/job.yaml" "$base" "$dir/tiny-code" "$s" <<'EOF' || die "--spec $spec: cannot make seed $s's job from it"
import sys, yaml
src, dst, base, bench, seed = sys.argv[1:]
with open(src, encoding="utf-8") as f:
    spec = yaml.safe_load(f)
spec["name"] = "reproduce-seed-" + seed
spec["model"] = base
spec["problems"] = bench + "/train.jsonl"
spec["eval"]["benchmark"] = bench + "/eval.jsonl"
spec.setdefault("sampling", {})["seed"] = int(seed)
spec.setdefault("train", {})["seed"] = int(seed)
with open(dst, "w", encoding="utf-8") as f:
    yaml.safe_dump(spec, f, sort_keys=False)
EOF
  "$root/deploy/quickstart.sh" --spec "$dir/job.yaml" --out "$dir/run" --no-build >"$dir/run.log" 2>&1 ||
    { tail -20 "$dir/run.log" >&2; die "seed $s: the job failed ($dir/run.log)"; }
  echo "reproduce: seed $s done in $(($(date +%s) - start)) s"
done

"$python" "$root/deploy/reproduce_table.py" "${dirs[@]}" --out "$out/table.md" --json "$out/summary.json"
