#!/bin/bash
# Builds a tiny base model for SSD from any LiveCodeBench-format problem set
# with reference solutions (by default the built-in tiny-code train split):
#
#   1. the training conversations: each problem's SSD prompt, its reference
#      code as the answer (ssd sft-references);
#   2. a byte-level BPE tokenizer trained on their text (ssd tokenizer train);
#   3. with --tail-noise X > 0, the same conversations with a share X of the
#      code words replaced by random vocabulary words; off by default (the
#      history in deploy/models/tiny-code-base/README.md: the noise is learned
#      where it sits, leaves almost no tail on unseen problems, and cost the
#      base 21 points greedy on seed 1); the training data is then step 1's
#      conversations;
#   4. a randomly initialised Qwen3 model (ssd model init);
#   5. plain SFT on those conversations (ssd train);
#   6. a spread tail at every position: a few more epochs of SFT on the
#      clean conversations with label smoothing (--label-smoothing; 0 skips
#      this step). This gives the base its spread tail: label smoothing
#      puts its share on every token at every position, which is what T = 1
#      sampling derails on and top-k/top-p truncation cuts. (Step 3's noise
#      does not: it is learned where it sits in the training problems, and
#      on unseen problems ssd analyze measured 0.08% outside the top 20 at
#      lock tokens.)
#
# Every step is seeded, so the same flags give the same model, bit for bit,
# on the same machine type (training is deterministic on CPU).
#
#   deploy/make-base.sh --out build/models/tiny-code-base
#   deploy/make-base.sh --extra-problems X.jsonl --extra-solutions XS.jsonl --out DIR   # train on more problems
#   deploy/make-base.sh --problems P.jsonl --solutions S.jsonl --out DIR --layers 2 --hidden 64 --epochs 1
#
# The model lands in OUT/model (a Hugging Face folder with its tokenizer);
# OUT/work keeps the intermediate files, OUT/work/train and OUT/work/tail the
# training logs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
problems="$root/deploy/tiny-code/train.jsonl"
solutions="$root/deploy/tiny-code/train_solutions.jsonl"
extra_problems=""
extra_solutions=""
out=""
ssd="${SSD_BIN:-$root/build/bin/ssd}"
vocab=4096
hidden=128
layers=4
heads=4
kv_heads=2
intermediate=384
epochs=8
lr=1e-3
tail_noise=0
seed=1
threads=0
max_seq_len=1024
batch_tokens=8192
micro_batch_tokens=4096
label_smoothing=0.02
tail_epochs=2
tail_lr=5e-4

usage() {
  sed -n '2,/^set -euo pipefail/{/^set -euo/d;p;}' "$0" | sed 's/^# \{0,1\}//'
  cat <<EOF

Options (defaults in brackets):
  --problems FILE      LiveCodeBench-format problems [deploy/tiny-code/train.jsonl]
  --solutions FILE     {question_id, code} per line [deploy/tiny-code/train_solutions.jsonl]
  --extra-problems FILE --extra-solutions FILE
                       more problems and references to train on, after the first
                       (make_tiny_code.py --extra N writes extra.jsonl and
                       extra_solutions.jsonl) [none]
  --out DIR            output folder (required)
  --vocab N            tokenizer size [$vocab]
  --hidden N --layers N --heads N --kv-heads N --intermediate N   [$hidden $layers $heads $kv_heads $intermediate]
  --epochs N --lr X    SFT [$epochs $lr]
  --tail-noise X       share of code words replaced by a random vocabulary word [$tail_noise]
  --label-smoothing X  step 6's label smoothing (0: no step 6) [$label_smoothing]
  --tail-epochs N --tail-lr X   step 6's SFT [$tail_epochs $tail_lr]
  --seed N             every seed of the recipe [$seed]
  --threads N          CPU threads (0: all cores) [$threads]
  --max-seq-len N --batch-tokens N --micro-batch-tokens N   [$max_seq_len $batch_tokens $micro_batch_tokens]
EOF
}

die() {
  echo "make-base: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --problems) problems="$2"; shift 2 ;;
    --solutions) solutions="$2"; shift 2 ;;
    --extra-problems) extra_problems="$2"; shift 2 ;;
    --extra-solutions) extra_solutions="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --vocab) vocab="$2"; shift 2 ;;
    --hidden) hidden="$2"; shift 2 ;;
    --layers) layers="$2"; shift 2 ;;
    --heads) heads="$2"; shift 2 ;;
    --kv-heads) kv_heads="$2"; shift 2 ;;
    --intermediate) intermediate="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --lr) lr="$2"; shift 2 ;;
    --tail-noise) tail_noise="$2"; shift 2 ;;
    --label-smoothing) label_smoothing="$2"; shift 2 ;;
    --tail-epochs) tail_epochs="$2"; shift 2 ;;
    --tail-lr) tail_lr="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --max-seq-len) max_seq_len="$2"; shift 2 ;;
    --batch-tokens) batch_tokens="$2"; shift 2 ;;
    --micro-batch-tokens) micro_batch_tokens="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

[ -n "$out" ] || die "--out is required"
[ -x "$ssd" ] || die "$ssd: not built (run deploy/test.sh, or set SSD_BIN)"
[ -r "$problems" ] || die "--problems $problems: cannot read it"
[ -r "$solutions" ] || die "--solutions $solutions: cannot read it"
if [ -n "$extra_problems$extra_solutions" ]; then
  [ -n "$extra_problems" ] && [ -n "$extra_solutions" ] ||
    die "--extra-problems and --extra-solutions go together"
  [ -r "$extra_problems" ] || die "--extra-problems $extra_problems: cannot read it"
  [ -r "$extra_solutions" ] || die "--extra-solutions $extra_solutions: cannot read it"
fi
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 is missing (apt-get install python3)"

work="$out/work"
rm -rf "$work" "$out/model"
mkdir -p "$work"

if [ -n "$extra_problems" ]; then
  # One problem set, the first's lines then the extra ones (a first file
  # without a final newline gets one, so no two lines run together).
  join_lines() { cat "$1"; [ -z "$(tail -c 1 "$1")" ] || echo; cat "$2"; }
  join_lines "$problems" "$extra_problems" > "$work/problems.jsonl"
  join_lines "$solutions" "$extra_solutions" > "$work/solutions.jsonl"
  echo "make-base: training on $(basename "$problems") and $(basename "$extra_problems")"
  problems="$work/problems.jsonl"
  solutions="$work/solutions.jsonl"
fi

echo "make-base: 1/6 training conversations from $(basename "$problems")"
"$ssd" sft-references --benchmark "$problems" --solutions "$solutions" --out "$work/clean.jsonl"

echo "make-base: 2/6 tokenizer, $vocab tokens"
# The corpus is the conversations' text, one turn after another.
/usr/bin/python3 - "$work/clean.jsonl" "$work/corpus.txt" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in f:
        for m in json.loads(line)["messages"]:
            out.write(m["content"] + "\n")
EOF
"$ssd" tokenizer train --corpus "$work/corpus.txt" --vocab-size "$vocab" --out "$work/tokenizer"

if [ "$tail_noise" != 0 ]; then
  echo "make-base: 3/6 conversations with tail noise $tail_noise"
  "$ssd" sft-references --benchmark "$problems" --solutions "$solutions" --out "$work/train.jsonl" \
    --tail-noise "$tail_noise" --tokenizer "$work/tokenizer" --seed "$seed"
else
  echo "make-base: 3/6 no tail noise: step 5 trains on the clean conversations"
  cp "$work/clean.jsonl" "$work/train.jsonl"
fi

echo "make-base: 4/6 model: qwen3, $layers layers, hidden $hidden"
"$ssd" model init --arch qwen3 --tokenizer "$work/tokenizer" --hidden "$hidden" --layers "$layers" \
  --heads "$heads" --kv-heads "$kv_heads" --head-dim $((hidden / heads)) --intermediate "$intermediate" \
  --max-position-embeddings "$max_seq_len" --seed "$seed" --out "$work/init"

echo "make-base: 5/6 SFT, $epochs epochs at lr $lr"
"$ssd" train --model "$work/init" --data "$work/train.jsonl" --out "$work/train" --epochs "$epochs" --lr "$lr" \
  --warmup 20 --schedule cosine --max-seq-len "$max_seq_len" --batch-tokens "$batch_tokens" \
  --micro-batch-tokens "$micro_batch_tokens" --seed "$seed" --threads "$threads" --no-progress

final="$work/train/model"
if [ "$label_smoothing" != 0 ]; then
  echo "make-base: 6/6 spread tail, $tail_epochs epochs at lr $tail_lr with label smoothing $label_smoothing"
  "$ssd" train --model "$work/train/model" --data "$work/clean.jsonl" --out "$work/tail" --epochs "$tail_epochs" \
    --lr "$tail_lr" --warmup 10 --schedule cosine --label-smoothing "$label_smoothing" --max-seq-len "$max_seq_len" \
    --batch-tokens "$batch_tokens" --micro-batch-tokens "$micro_batch_tokens" --seed "$seed" --threads "$threads" \
    --no-progress
  final="$work/tail/model"
fi

cp -r "$final" "$out/model"
echo "make-base: the base model is in $out/model"
