# Shared by the deploy scripts that need a Docker engine (sourced): a
# private dockerd in a work folder, and Debian 12 root filesystems made with
# mmdebstrap (no image registry is reachable from these machines).

# start_dockerd WORK: dockerd on unix://WORK/docker.sock (exported as
# DOCKER_HOST), its state under WORK, with vfs storage, no bridge and no
# iptables rules. Sets dockerd_pid. Returns 1, after the log's last lines,
# when it ends or does not answer within 30 s.
start_dockerd() {
  local work=$1
  export DOCKER_HOST=unix://$work/docker.sock
  dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" -H "$DOCKER_HOST" \
    --storage-driver=vfs --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 60); do
    /usr/bin/docker info >/dev/null 2>&1 && return 0
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.5
  done
  tail -5 "$work/dockerd.log"
  return 1
}

# stop_dockerd WORK: stops the dockerd start_dockerd started (TERM, then
# KILL after 10 s), and takes down what it left mounted below WORK (its
# default network namespace stays bind-mounted under its exec root).
stop_dockerd() {
  local work=$1
  if [[ -n ${dockerd_pid:-} ]]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    dockerd_pid=""
  fi
  grep -o " $work[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
}

# debian_rootfs OUT LOG [PACKAGE...]: a Debian 12 minbase root filesystem
# with PACKAGEs, as the tarball OUT (mmdebstrap's output in LOG).
debian_rootfs() {
  local out=$1 log=$2
  shift 2
  local include=()
  (($#)) && include=(--include="$(IFS=,; echo "$*")")
  mmdebstrap --variant=minbase --format=tar "${include[@]}" bookworm "$out" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" >"$log" 2>&1
}
