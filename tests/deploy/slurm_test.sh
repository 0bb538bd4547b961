#!/usr/bin/env bash
# deploy/slurm/ssd.sbatch on a real one-node Slurm: munged, slurmctld and
# slurmd started here on 127.0.0.1 from a temporary folder (linuxproc
# process tracking, no cgroups, no accounting), then `sbatch --wait` of the
# script with a tiny job (2 samplers, 2 trainer ranks on the CPU). Passes
# when the Slurm job COMPLETED with exit code 0, which the script gives only
# when `ssd watch` saw the SSD job SUCCEEDED.
#
#   tests/deploy/slurm_test.sh          # ctest: slurm_test (LABELS slurm)
#
# Exits 77 (ctest SKIP) with the reason where the daemons cannot run: not
# root, slurm-wlm or munge missing, or a daemon does not come up. Under
# SSD_REQUIRE_ALL=1 it exits 1 instead.
set -euo pipefail
src=${SSD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
ssd=${SSD_BIN:-$src/build/bin/ssd}
source "$src/tests/deploy/tiny_job.sh"

skip() { skip_test slurm_test "$@"; }
[[ $(id -u) -eq 0 ]] || skip "slurmd and munged need root"
for tool in munged slurmctld slurmd sbatch scontrol; do
  command -v $tool >/dev/null || skip "no $tool (deploy/install-deps.sh installs slurm-wlm and munge)"
done
[[ -x $ssd ]] || skip "no $ssd"

work=$(mktemp -d /tmp/ssd-slurm.XXXXXX)
chmod 0700 "$work"
pids=()
cleanup() {
  local rc=$?
  set +e
  if ((rc != 0)); then
    for f in slurmctld.log slurmd.log job.out run/coordinator.log run/samplers.log run/trainers.log; do
      [[ -f $work/$f ]] && { echo "--- $f (last 25 lines)"; tail -25 "$work/$f"; }
    done
  fi
  [[ -f $work/slurm.conf ]] && SLURM_CONF=$work/slurm.conf scancel --full --quiet --user=root 2>/dev/null
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  # Anything the job left (it should have stopped its own steps).
  pkill -9 -f "$work" 2>/dev/null
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

host=$(hostname -s)

# munge: a fresh key and a private socket.
head -c 1024 /dev/urandom >"$work/munge.key"
chmod 0400 "$work/munge.key"
munged --foreground --force --key-file="$work/munge.key" --socket="$work/munge.sock" \
  --pid-file="$work/munged.pid" --log-file="$work/munged.log" --seed-file="$work/munge.seed" &
pids+=($!)
for _ in $(seq 50); do [[ -S $work/munge.sock ]] && break; sleep 0.1; done
[[ -S $work/munge.sock ]] || skip "munged did not start: $(tail -2 "$work/munged.log" 2>/dev/null)"

mkdir -p "$work/state" "$work/spool"
# The node claims 8 CPUs (config_overrides keeps slurmd from draining it for
# the 2 it has) so the five processes of the job get five task slots.
cat >"$work/slurm.conf" <<EOF
ClusterName=ssdtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$work/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=8 RealMemory=4096 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$work/slurm.conf
slurmctld -D -i >"$work/slurmctld.stdout" 2>&1 &
pids+=($!)
slurmd -D -N "$host" >"$work/slurmd.stdout" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
  [[ $state == idle* ]] && break
  sleep 0.3
done
[[ $state == idle* ]] || skip "the one-node Slurm did not come up (node state '$state'): $(tail -3 "$work/slurmctld.log" 2>/dev/null)"
echo "slurm_test: Slurm up on $host (node $state)"

tiny_job "$work/shared" slurm-tiny 2 48

echo "slurm_test: sbatch --wait deploy/slurm/ssd.sbatch"
set +e
jobid=$(cd "$work" && timeout 900 sbatch --parsable --wait --nodes=1 --ntasks-per-node=5 --output="$work/job.out" \
  --export=ALL,SSD_BIN="$ssd",SSD_RUN_DIR="$work/run",SSD_SAMPLERS=2,SSD_TRAINERS=2,SSD_THREADS=1,SSD_DEVICE=cpu,SSD_PORT="$(free_port)" \
  "$src/deploy/slurm/ssd.sbatch" "$work/shared/job.yaml")
rc=$?
set -e
jobid=${jobid%%;*}
info=$(scontrol show job "$jobid" 2>/dev/null | grep -oE 'JobState=[A-Z]+|ExitCode=[0-9:]+' | tr '\n' ' ')
echo "slurm_test: Slurm job $jobid: $info(sbatch --wait exit $rc)"
grep -E "^ssd.sbatch:" "$work/job.out" || true
[[ $rc -eq 0 && $info == *JobState=COMPLETED*ExitCode=0:0* ]] || { echo "FAIL: the Slurm job did not complete cleanly"; exit 1; }
grep -q "ended with status 0" "$work/job.out" || { echo "FAIL: ssd watch did not report SUCCEEDED"; exit 1; }
# The trainers ran as ranks 0 and 1 by their task ids.
for r in 0 1; do
  grep -q "as rank $r/2" "$work/run/trainers.log" || { echo "FAIL: no trainer trained as rank $r/2"; exit 1; }
done
echo "slurm_test: PASSED"
