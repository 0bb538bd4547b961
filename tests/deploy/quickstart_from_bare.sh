#!/usr/bin/env bash
# The README's first command on a bare Debian 12, timed: apt, the build and
# the job in one go. Starts its own dockerd (vfs storage, no bridge, no
# iptables) in a temporary folder, makes a Debian 12 minbase image with
# mmdebstrap, and runs `deploy/quickstart.sh` in a container of it on a fresh
# clone of this repository (HEAD, bind-mounted). The container has host
# networking and only the capabilities bubblewrap needs to build its
# sandboxes (SYS_ADMIN, NET_ADMIN, no seccomp or AppArmor profile, an
# unmasked /proc).
#
#   tests/deploy/quickstart_from_bare.sh [--out DIR]   # keeps the clone and its reports in DIR
#
# Manual, not a ctest: it downloads Debian packages (apt inside the
# container), which tests must not do. Where this machine's TLS goes through
# a local certificate authority (/usr/local/share/ca-certificates), that
# folder is mounted into the container as a machine like this one has it;
# the Debian packages install without it.
#
# Prints the quickstart's own output, then one line:
#   quickstart_from_bare: rc=0 wall=359 s (table md5 ...)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
source "$src/tests/deploy/dockerd.sh"
out=""
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart_from_bare: unknown option: $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "quickstart_from_bare: dockerd needs root" >&2; exit 2; }
for tool in dockerd mmdebstrap git; do
  command -v $tool >/dev/null || { echo "quickstart_from_bare: no $tool (deploy/install-deps.sh installs it)" >&2; exit 2; }
done

docker_bin=/usr/bin/docker  # Debian's client, matching its dockerd
work=$(mktemp -d /tmp/ssd-bare.XXXXXX)
[[ -n $out ]] || out=$work/run
mkdir -p "$out"
out=$(cd "$out" && pwd)
name=ssd-bare-$$
dockerd_pid=""

cleanup() {
  local rc=$?
  set +e
  [[ -n $dockerd_pid ]] && $docker_bin rm -f "$name" >/dev/null 2>&1
  stop_dockerd "$work"
  rm -rf "$work/data" "$work/exec" "$work/rootfs.tar"
  [[ $out == "$work"/* ]] || rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$out/src"
git clone -q "$src" "$out/src"
start_dockerd "$work" || { echo "quickstart_from_bare: dockerd did not start" >&2; exit 1; }
echo "quickstart_from_bare: mmdebstrap --variant=minbase bookworm (not timed)"
debian_rootfs "$work/rootfs.tar" "$work/mmdebstrap.log" || { tail -20 "$work/mmdebstrap.log"; exit 1; }
$docker_bin import "$work/rootfs.tar" "$name:bookworm" >/dev/null

ca=()
if [[ -d /usr/local/share/ca-certificates ]]; then
  ca=(-v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro)
fi
echo "quickstart_from_bare: deploy/quickstart.sh in a bare container, from $(git -C "$out/src" rev-parse --short HEAD)"
start=$(date +%s)
rc=0
$docker_bin run --name "$name" --network host \
  --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --security-opt systempaths=unconfined "${ca[@]}" -v "$out/src:/src" -w /src "$name:bookworm" \
  deploy/quickstart.sh --out /src/build/quickstart || rc=$?
wall=$(($(date +%s) - start))
md5=$(md5sum <"$out/src/build/quickstart/table.md" 2>/dev/null | cut -c1-8 || true)
echo "quickstart_from_bare: rc=$rc wall=$wall s (table md5 ${md5:-none}); reports in $out/src/build/quickstart"
exit $rc
