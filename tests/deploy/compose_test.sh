#!/usr/bin/env bash
# The docker-compose cluster, for real: starts its own dockerd (vfs storage,
# no bridge, no iptables) in a temporary folder, makes a Debian 12 base image
# with mmdebstrap (no registry is reachable), builds deploy/Dockerfile's
# runtime-prebuilt target around build/bin/ssd, brings up
# deploy/docker-compose.yml with the host-network override (a coordinator,
# 2 samplers, 2 trainer ranks, TLS and the token as secrets), submits a tiny
# job from the host with `ssd submit`, checks it SUCCEEDED with every sample
# exactly once, and brings everything down, leaving no container, volume,
# network or process behind.
#
#   tests/deploy/compose_test.sh            # ctest: compose_test (LABELS docker)
#
# Exits 77 (ctest SKIP) with the reason where it cannot run: not root, no
# dockerd/docker-compose/mmdebstrap, dockerd does not start, or no
# build/bin/ssd. Under SSD_REQUIRE_ALL=1 it exits 1 instead. The base
# image's root filesystem (the slow, networked step) is cached under
# $SSD_BUILD_DIR/docker-cache, keyed by its package list.
set -euo pipefail
src=${SSD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SSD_BUILD_DIR:-$src/build}
ssd=${SSD_BIN:-$build/bin/ssd}
source "$src/tests/deploy/tiny_job.sh"
source "$src/tests/deploy/dockerd.sh"

skip() { skip_test compose_test "$@"; }
[[ $(id -u) -eq 0 ]] || skip "dockerd needs root"
for tool in dockerd docker-compose mmdebstrap; do
  command -v $tool >/dev/null || skip "no $tool (deploy/install-deps.sh installs docker.io, docker-compose, mmdebstrap)"
done
[[ -x $ssd ]] || skip "no $ssd"
[[ $(realpath "$build") == $(realpath "$src")/build ]] ||
  skip "the image takes build/bin/ssd from the repository's build/ folder; this build is $build"

docker_bin=/usr/bin/docker  # Debian's client, matching its dockerd
work=$(mktemp -d /tmp/ssd-compose.XXXXXX)
project=ssdtest$$
compose=(docker-compose -p "$project" -f "$src/deploy/docker-compose.yml" -f "$src/deploy/docker-compose.hostnet.yml")
dockerd_pid=""
# The compose files need these to parse, also in cleanup before they are set.
export SSD_IMAGE=ssd:compose-test SSD_CERTS_DIR=$work/certs SSD_SHARED_DIR=$work/shared
export SSD_COORDINATOR_PORT=0 SSD_METRICS_BASE=0 SSD_TRAINER0_METRICS_PORT=0 SSD_TRAINER1_METRICS_PORT=0

cleanup() {
  local rc=$?
  set +e
  if [[ -n $dockerd_pid ]]; then
    if ((rc != 0)); then
      echo "--- compose logs (last 40 lines each) ---"
      "${compose[@]}" logs --no-color --tail 40 2>&1
    fi
    "${compose[@]}" down -v --remove-orphans --timeout 20 >/dev/null 2>&1
    left=$($docker_bin ps -aq | wc -l)
    vols=$($docker_bin volume ls -q | wc -l)
    ((left == 0 && vols == 0)) || { echo "FAIL: $left containers and $vols volumes left after down"; rc=1; }
  fi
  stop_dockerd "$work"
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "compose_test: starting dockerd in $work"
start_dockerd "$work" || skip "dockerd did not start or did not answer in 30 s"

# The base image: Debian 12 minbase with the runtime packages already in it,
# so the Dockerfile's apt step finds them installed.
pkgs=$(sed -n '/^FROM ${BASE_IMAGE} AS runtime-base/,/^ENV/p' "$src/deploy/Dockerfile" |
  grep -oE '^\s+(lib|bubblewrap|python3|curl|ca-cert)[^\\]*' | tr -s ' \n' ' ' | xargs)
[[ -n $pkgs ]] || { echo "FAIL: no runtime packages found in deploy/Dockerfile"; exit 1; }
cache=$build/docker-cache
key=$(echo "$pkgs" | sha256sum | cut -c1-16)
rootfs=$cache/bookworm-runtime-$key.tar
if [[ ! -f $rootfs ]]; then
  mkdir -p "$cache"
  rm -f "$rootfs.partial.tar"
  echo "compose_test: mmdebstrap bookworm with: $pkgs"
  # shellcheck disable=SC2086  # one package per word
  debian_rootfs "$rootfs.partial.tar" "$work/mmdebstrap.log" $pkgs ||
    { tail -20 "$work/mmdebstrap.log"; echo "FAIL: mmdebstrap"; exit 1; }
  mv "$rootfs.partial.tar" "$rootfs"
fi
$docker_bin import "$rootfs" ssd-base:bookworm >/dev/null

echo "compose_test: building deploy/Dockerfile --target runtime-prebuilt"
$docker_bin build --network host -f "$src/deploy/Dockerfile" --target runtime-prebuilt \
  --build-arg BASE_IMAGE=ssd-base:bookworm -t ssd:compose-test "$src" >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log"; echo "FAIL: docker build"; exit 1; }
health=$($docker_bin image inspect ssd:compose-test --format '{{json .Config.Healthcheck.Test}} {{.Config.User}}')
[[ $health == *healthz*' ssd' ]] || { echo "FAIL: image health check or user: $health"; exit 1; }

# TLS material and the token, readable by the containers' uid 10001.
"$ssd" certs init --out "$work/certs" >/dev/null
chmod 0644 "$work/certs"/*
# The job's files at the same path in every container.
shared=$work/shared
tiny_job "$shared" compose-tiny 2 48
chmod -R a+rwX "$shared"

export SSD_COORDINATOR_PORT=$(free_port) SSD_METRICS_BASE=$(free_port)
export SSD_TRAINER0_METRICS_PORT=$(free_port) SSD_TRAINER1_METRICS_PORT=$(free_port)
"${compose[@]}" config -q
echo "compose_test: up (coordinator on 127.0.0.1:$SSD_COORDINATOR_PORT, 2 samplers, 2 trainers)"
"${compose[@]}" up -d --scale sampler=2 >"$work/up.log" 2>&1 || { cat "$work/up.log"; echo "FAIL: up"; exit 1; }
for _ in $(seq 120); do
  state=$($docker_bin inspect --format '{{.State.Health.Status}}' "${project}_coordinator_1" 2>/dev/null || true)
  [[ $state == healthy ]] && break
  sleep 1
done
[[ $state == healthy ]] || { echo "FAIL: the coordinator is not healthy ($state)"; exit 1; }

client=(--coordinator "127.0.0.1:$SSD_COORDINATOR_PORT" --certs "$work/certs")
echo "compose_test: ssd submit, then ssd watch"
job=$("$ssd" submit "$shared/job.yaml" --detach "${client[@]}")
timeout 600 "$ssd" watch "$job" "${client[@]}" >"$work/watch.log" 2>&1 ||
  { tail -30 "$work/watch.log"; echo "FAIL: job $job did not succeed"; exit 1; }
"$ssd" status "$job" "${client[@]}" --json >"$work/status.json"
/usr/bin/python3 - "$work/status.json" <<'EOF'
import json, sys
job = json.load(open(sys.argv[1]))
state = job.get("state")
assert state == "SUCCEEDED", state
print("compose_test: job", job.get("id"), state)
EOF
"$ssd" export "$job" --round 1 --all --out "$work/samples.jsonl" "${client[@]}" >/dev/null
counted=$(every_sample_once "$work/samples.jsonl" "$shared/problems.jsonl" 2)
echo "compose_test: $counted"
echo "compose_test: PASSED"
