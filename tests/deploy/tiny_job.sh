# Shared by the deploy tests (sourced): the tiny SSD job they run, a free
# loopback port, the exactly-once check of a round's samples, and how a
# missing prerequisite ends a test.

# skip_test TEST WHY: a prerequisite is missing. Exit 77 (ctest SKIP) with the
# reason, or under SSD_REQUIRE_ALL=1 (CI sets it) exit 1, so that a green
# run always means every test ran.
skip_test() {
  local test=$1
  shift
  if [[ ${SSD_REQUIRE_ALL:-} == 1 ]]; then
    echo "FAIL $test: missing prerequisite (SSD_REQUIRE_ALL=1): $*"
    exit 1
  fi
  echo "SKIP $test: $*"
  exit 77
}

# tiny_job DIR NAME N MAX_TOKENS: the committed tiny-code base and the 8
# tiny problems under DIR, an output folder, and DIR/job.yaml sampling N
# per problem (T 1.5, top-k 20, top-p 0.8) then one SFT epoch on 2 trainers.
tiny_job() {
  local dir=$1 name=$2 n=$3 max_tokens=$4
  mkdir -p "$dir/out"
  cp -r "$src/deploy/models/tiny-code-base" "$dir/model"
  cp "$src/deploy/examples/tiny-problems.jsonl" "$dir/problems.jsonl"
  cat >"$dir/job.yaml" <<EOF
name: $name
model: $dir/model
problems: $dir/problems.jsonl
output_dir: $dir/out
rounds: 1
shard_size: 2
sampling:
  temperature: 1.5
  top_k: 20
  top_p: 0.8
  n: $n
  max_tokens: $max_tokens
filter:
  drop_empty: true
  drop_shortest_percent: 10
train:
  epochs: 1
  lr: 1.0e-4
  max_seq_len: 512
  micro_batch_tokens: 1024
  batch_tokens: 2048
  trainers: 2
EOF
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# every_sample_once SAMPLES_JSONL PROBLEMS_JSONL N: `ssd export --all` wrote
# exactly N samples per problem (the store keys samples by problem and
# index, so the count also rules out gaps).
every_sample_once() {
  /usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
problems = [json.loads(l)["question_id"] for l in open(sys.argv[2]) if l.strip()]
n = int(sys.argv[3])
assert len(rows) == n * len(problems), f"{len(rows)} samples for {len(problems)} problems x {n}"
print(f"{len(rows)} samples for {len(problems)} problems x {n}: no gap and no duplicate")
EOF
}
