#!/usr/bin/env bash
# workflows/slurm-job.sbatch under a real Slurm: a private one-node cluster
# (its own munge key and socket, configuration, ports and spool under the
# work directory, nothing of the machine's touched) runs the script as a
# batch job of 2 tasks. The sidecar finds the job's ranks by SLURM_JOB_ID,
# the reduce runs inside the allocation, and the job ends with the
# application's exit status, failing or not. Needs root (slurmd starts the
# job's steps) and Debian's slurm-wlm (share/install-deps.sh).
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || fail "the private Slurm cluster needs root"
for tool in munged slurmctld slurmd sbatch srun scontrol; do
  command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null || fail "$tool not installed"
done
export PATH=$bin:$PATH:/usr/sbin

cluster="$work/cluster"
mkdir -p "$cluster"/{spool,state,log} && chmod 0700 "$cluster"
dd if=/dev/urandom of="$cluster/munge.key" bs=1024 count=1 status=none && chmod 0400 "$cluster/munge.key"
munged --force --socket="$cluster/munge.sock" --key-file="$cluster/munge.key" --pid-file="$cluster/munged.pid" \
  --log-file="$cluster/log/munged.log" --seed-file="$cluster/munged.seed"
free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
node=$(hostname -s)
export SLURM_CONF="$cluster/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=jobperf-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$cluster/munge.sock
CredType=cred/munge
StateSaveLocation=$cluster/state
SlurmdSpoolDir=$cluster/spool
SlurmctldPidFile=$cluster/slurmctld.pid
SlurmdPidFile=$cluster/slurmd.pid
SlurmctldLogFile=$cluster/log/slurmctld.log
SlurmdLogFile=$cluster/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=pmix
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
stop_cluster() {
  scontrol shutdown >/dev/null 2>&1 || true  # slurmctld and its slurmd
  munged --stop --socket="$cluster/munge.sock" >/dev/null 2>&1 || true
}
trap stop_cluster EXIT
slurmctld -i && slurmd
for _ in $(seq 60); do
  sinfo -h -o %t 2>/dev/null | grep -q idle && break
  sleep 0.5
done
sinfo -h -o %t | grep -q idle || { tail "$cluster"/log/*.log >&2; fail "the private Slurm node did not come up"; }
echo "ok: a private Slurm $(sinfo -V | cut -d' ' -f2) cluster of one node"

mkdir -p "$work/scratch"  # the script's node-local scratch is $TMPDIR
# run_job EXIT: the script as a batch job of 2 tasks whose application exits EXIT; waits, prints its id.
run_job() {
  local want=$1 dir="$work/job-exit-$1" id state
  mkdir -p "$dir"
  cat >"$dir/app" <<EOF
#!/bin/bash
set -e
# A sanitized build's app: the exit records' LD_PRELOAD library comes before ASan's runtime.
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0"
"$bin/jobperf-demo-app" --seconds 1.5 --write-mib 4 --dir "$dir"
exit $want
EOF
  chmod +x "$dir/app"
  id=$(cd "$dir" && TMPDIR="$work/scratch" sbatch --parsable --nodes=1 --ntasks-per-node=2 --time=5 \
         --output="$dir/job.out" "$tests/../workflows/slurm-job.sbatch")
  for _ in $(seq 240); do
    state=$(scontrol show job "$id" | sed -n 's/.*JobState=\([A-Z]*\).*/\1/p')
    case $state in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL) break ;; esac
    sleep 0.5
  done
  cat "$dir/job.out"
  # One collector and one reducer per node: steps inherit the job's 2 tasks unless told.
  ! grep -E "can't honor --ntasks-per-node|already exists" "$dir/job.out" || fail "job $id ran more than one collector a node"
  scontrol show job "$id" | grep -q "ExitCode=$want:0" || fail "job $id ended $state, not with exit $want: $(scontrol show job "$id" | grep -o 'ExitCode=[0-9:]*')"
  echo "ok: job $id ended with the application's exit status $want"
  test -f "$dir/job-$id.h5" || fail "job $id wrote no job file"
  "$python" - "$dir/job-$id.h5" "$id" "$want" <<'PY'
import sys, h5py, numpy
path, job_id, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
f = h5py.File(path)
assert f.attrs["job_id"] == job_id and f.attrs["status"] == "complete", dict(f.attrs)
assert f.attrs["job_name"] == "cfd-run", f.attrs["job_name"]  # from the script's #SBATCH line
assert list(f["ranks/rank"][()]) == [0, 1], f["ranks/rank"][()]
busy = f["ranks/cpu_utilization"][()]
assert (numpy.nanmax(busy, axis=1) > 0.5).all(), busy  # both ranks computed
exes = [e.rsplit("/", 1)[-1] for e in f["processes/exe"].asstr()[()]]
assert exes.count("jobperf-demo-app") == 2, exes
assert int(f.attrs["exit_status"]) == want, f.attrs["exit_status"]
print(f"ok: {path}: ranks 0 and 1 busy, their processes recorded, exit status {want}")
PY
}
run_job 0
run_job 3
echo "slurm: all checks passed"
