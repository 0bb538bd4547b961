#!/usr/bin/env bash
# Several hosts without containers: one network namespace per host (a
# coordinator, 2 samplers, 2 trainers, and a client), each joined by a veth
# pair to a Linux bridge inside a hub namespace this test creates, each on
# its own address in 10.213.0.0/24 (which exists only inside these
# namespaces). Everything speaks TLS with the token. A tiny job runs end to
# end; meanwhile one sampler's link is cut (`ip link set ... down`) while it
# holds a lease: the lease expires, another sampler (started after the cut)
# redoes the shard, and the job still SUCCEEDS with every sample exactly
# once.
#
#   tests/deploy/multihost_test.sh      # ctest: multihost_test (LABELS deploy)
#
# Exits 77 (ctest SKIP) with the reason where namespaces cannot be made (not
# root, no `ip`, no permission). Under SSD_REQUIRE_ALL=1 it exits 1 instead.
set -euo pipefail
src=${SSD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
ssd=${SSD_BIN:-$src/build/bin/ssd}
source "$src/tests/deploy/tiny_job.sh"

skip() { skip_test multihost_test "$@"; }
[[ $(id -u) -eq 0 ]] || skip "network namespaces need root"
command -v ip >/dev/null || skip "no ip (iproute2)"
[[ -x $ssd ]] || skip "no $ssd"

tag=m$$
hub=ssd-$tag-hub
hosts=(coord s1 s2 t1 t2 client)
declare -A addr=([coord]=10.213.0.10 [s1]=10.213.0.21 [s2]=10.213.0.22 [t1]=10.213.0.31 [t2]=10.213.0.32 [client]=10.213.0.40)
work=$(mktemp -d /tmp/ssd-multihost.XXXXXX)
pids=()

cleanup() {
  local rc=$?
  set +e
  if ((rc != 0)); then
    for f in coord s1 s2 t1 t2; do
      [[ -f $work/$f.log ]] && { echo "--- $f.log (last 15 lines)"; tail -15 "$work/$f.log"; }
    done
  fi
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for h in "${hosts[@]}"; do ip netns del "ssd-$tag-$h" 2>/dev/null; done
  ip netns del "$hub" 2>/dev/null
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$hub" 2>/dev/null || skip "cannot create a network namespace"
ip -n "$hub" link add br0 type bridge
ip -n "$hub" link set br0 up
for h in "${hosts[@]}"; do
  ns=ssd-$tag-$h
  ip netns add "$ns"
  ip link add "v$tag$h" netns "$ns" type veth peer name "b$h" netns "$hub"
  ip -n "$ns" link set "v$tag$h" name eth0
  ip -n "$ns" addr add "${addr[$h]}/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$hub" link set "b$h" master br0
  ip -n "$hub" link set "b$h" up
done
echo "multihost_test: 6 hosts on a bridge in namespace $hub"

"$ssd" certs init --out "$work/certs" --host coordinator >/dev/null
# 8 problems x 4 samples in shards of 2: long enough that the cut sampler
# is still on its shard when its link goes down.
tiny_job "$work/shared" multihost-tiny 4 96

secure=(--certs "$work/certs" --tls-server-name coordinator)
# Each host's process leads its own process group, so cleanup reaches its children.
start() {  # start NAME ARGS...
  local h=$1
  shift
  setsid ip netns exec "ssd-$tag-$h" env OMP_WAIT_POLICY=PASSIVE "$ssd" "$@" >"$work/$h.log" 2>&1 &
  pids+=($!)
}
port=7070
start coord coordinator --listen "${addr[coord]}:$port" --data-dir "$work/coord-data" --metrics-port -1 \
  --lease-ttl-ms 4000 --heartbeat-interval-ms 500 --worker-timeout-ms 4000 --certs "$work/certs"
coordinator="${addr[coord]}:$port"
for _ in $(seq 100); do grep -q "listening on" "$work/coord.log" && break; sleep 0.2; done
grep -q "listening on" "$work/coord.log" || { echo "FAIL: the coordinator did not start"; exit 1; }
sampler() {  # sampler HOST
  start "$1" sampler --coordinator "$coordinator" --listen "${addr[$1]}:7071" --work-dir "$work/$1" --threads 1 \
    --metrics-port -1 "${secure[@]}"
}
# s2 starts only once s1's link is down: with both up from the start, s2
# could finish the whole tiny job before s1 ever asked for a shard.
sampler s1
for i in 0 1; do
  h=t$((i + 1))
  start $h trainer --coordinator "$coordinator" --work-dir "$work/$h" --rank-hint $i --rendezvous-port 29500 \
    --threads 1 --metrics-port -1 "${secure[@]}"
done

client() { ip netns exec "ssd-$tag-client" "$ssd" "$@" --coordinator "$coordinator" "${secure[@]}"; }
for _ in $(seq 100); do
  n=$(client workers 2>/dev/null | grep -c ALIVE || true)
  ((n >= 3)) && break
  sleep 0.3
done
((n >= 3)) || { echo "FAIL: $n of 3 workers registered"; exit 1; }
job=$(client submit "$work/shared/job.yaml" --detach)
echo "multihost_test: submitted $job from ${addr[client]}"

# Cut s1's link as soon as it works on a shard: its log names the job when
# its engine starts serving it, which is on its first lease.
for _ in $(seq 600); do
  grep -q "serving $job v0" "$work/s1.log" && break
  sleep 0.05
done
grep -q "serving $job v0" "$work/s1.log" || { echo "FAIL: sampler ${addr[s1]} never got a lease"; exit 1; }
s1_id=$(sed -n 's/.*registered as \(sampler-[0-9]*\) .*/\1/p' "$work/s1.log" | head -1)
ip -n "$hub" link set bs1 down
echo "multihost_test: cut the link of $s1_id (${addr[s1]}) while it held a lease"
sampler s2

timeout 600 ip netns exec "ssd-$tag-client" "$ssd" watch "$job" --coordinator "$coordinator" "${secure[@]}" \
  >"$work/watch.log" 2>&1 || { tail -20 "$work/watch.log"; echo "FAIL: job $job did not succeed"; exit 1; }
client workers --all >"$work/workers.txt"
grep "${addr[s1]}" "$work/workers.txt" | grep -qE "DEAD|RECOVERING" ||
  { cat "$work/workers.txt"; echo "FAIL: the cut sampler is not dead"; exit 1; }
client export "$job" --round 1 --all --out "$work/samples.jsonl" >/dev/null
counted=$(every_sample_once "$work/samples.jsonl" "$work/shared/problems.jsonl" 4)
echo "multihost_test: $counted"
# Its lease went back to the queue (by expiry, or with the worker's timeout).
grep -E "held by $s1_id expired|worker $s1_id missed its heartbeats" "$work/coord.log" ||
  { echo "FAIL: the coordinator never took $s1_id's lease back"; exit 1; }
echo "multihost_test: PASSED"
