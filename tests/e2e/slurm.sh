#!/usr/bin/env bash
# The Slurm batch scripts under a real Slurm: a private cluster of two nodes
# on this machine (two slurmd; its own munge key and socket, configuration,
# ports, spool and node-local scratch under the work directory, nothing of
# the machine's touched). A task prolog gives each node's tasks their node's
# name and scratch, as jobperf's simulated nodes have (README).
# Each script runs as a job of 2 tasks on each of the two nodes:
# - workflows/slurm-job.sbatch: a sidecar a node finds its node's ranks by
#   SLURM_JOB_ID (and their node's name), the sidecars align the two clocks;
# - workflows/slurm-wrapped.sbatch: a collector wraps each rank, and the
#   reducer aligns the two clocks itself;
# the reducer's two ranks, one a node, each read their node's scratch, and
# each job ends with the application's exit status, failing or not. Needs
# root (slurmd starts the job's steps) and Debian's slurm-wlm
# (share/install-deps.sh --slurm).
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || fail "the private Slurm cluster needs root"
export PATH=$bin:$PATH:/usr/sbin
for tool in munged slurmctld slurmd sbatch scontrol sinfo; do command -v "$tool" >/dev/null || fail "$tool not installed"; done

cluster="$work/cluster"
mkdir -p "$cluster"/{state,log} && chmod 0700 "$cluster"
dd if=/dev/urandom of="$cluster/munge.key" bs=1024 count=1 status=none && chmod 0400 "$cluster/munge.key"
munged --force --socket="$cluster/munge.sock" --key-file="$cluster/munge.key" --pid-file="$cluster/munged.pid" \
  --log-file="$cluster/log/munged.log" --seed-file="$cluster/munged.seed"
free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
host=$(hostname -s)
for node in n1 n2; do mkdir -p "$cluster/spool-$node" "$cluster/tmp-$node" "$work/scratch-$node"; done
# The same scratch path on every node, each node's own storage, as node-local scratch is.
cat >"$cluster/task-prolog" <<EOF
#!/bin/sh
scratch=$work/scratch-\$SLURMD_NODENAME
echo "export JOBPERF_HOSTNAME=\$SLURMD_NODENAME"
echo "export JOBPERF_SCRATCH=\$scratch"
[ -z "\$JOBPERF_PRELOAD_DIR" ] || echo "export JOBPERF_PRELOAD_DIR=\$scratch/jobperf/\$SLURM_JOB_ID"
EOF
chmod +x "$cluster/task-prolog"
export SLURM_CONF="$cluster/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=jobperf-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$cluster/munge.sock
CredType=cred/munge
StateSaveLocation=$cluster/state
SlurmdSpoolDir=$cluster/spool-%n
TmpFS=$cluster/tmp-%n
SlurmctldPidFile=$cluster/slurmctld.pid
SlurmdPidFile=$cluster/slurmd-%n.pid
SlurmctldLogFile=$cluster/log/slurmctld.log
SlurmdLogFile=$cluster/log/slurmd-%n.log
TaskProlog=$cluster/task-prolog
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=pmix
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=n1 NodeHostname=$host NodeAddr=127.0.0.1 Port=$(free_port) CPUs=$(nproc) RealMemory=1000
NodeName=n2 NodeHostname=$host NodeAddr=127.0.0.1 Port=$(free_port) CPUs=$(nproc) RealMemory=1000
PartitionName=test Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
stop_cluster() {
  scontrol shutdown >/dev/null 2>&1 || true  # slurmctld and its slurmd
  munged --stop --socket="$cluster/munge.sock" >/dev/null 2>&1 || true
}
trap stop_cluster EXIT
slurmctld -i && slurmd -N n1 && slurmd -N n2
for _ in $(seq 60); do
  [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && break
  sleep 0.5
done
[ "$(sinfo -h -o %t)" = idle ] || { tail "$cluster"/log/*.log >&2; fail "the private Slurm nodes did not come up"; }
echo "ok: a private Slurm $(sinfo -V | cut -d' ' -f2) cluster of two nodes"

# run_job SCRIPT NODES EXIT: SCRIPT as a batch job of 2 tasks a node whose
# application exits EXIT; checks its end and its job file.
run_job() {
  local script=$1 nodes=$2 want=$3 dir="$work/$1-$2-nodes-exit-$3" id state
  mkdir -p "$dir"
  cat >"$dir/app" <<EOF
#!/bin/bash
set -e
# A sanitized build's app: the exit records' LD_PRELOAD library comes before ASan's runtime.
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0"
"$bin/jobperf-demo-app" --seconds 2.5 --write-mib 4 --dir "$dir"
exit $want
EOF
  chmod +x "$dir/app"
  # The simulated nodes share one /dev/shm, where Open MPI names its
  # shared-memory segments by the real host name: MPI between them over TCP.
  id=$(cd "$dir" && OMPI_MCA_btl=self,tcp sbatch --parsable --nodes="$nodes" --ntasks-per-node=2 --time=5 --output="$dir/job.out" \
         "$tests/../workflows/$script.sbatch")
  for _ in $(seq 240); do
    state=$(scontrol show job "$id" | sed -n 's/.*JobState=\([A-Z]*\).*/\1/p')
    case $state in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL) break ;; esac
    sleep 0.5
  done
  cat "$dir/job.out"
  # One collector (sidecar) and one reducer a node: steps inherit the job's task count unless told.
  ! grep -E "can't honor --ntasks-per-node|already exists" "$dir/job.out" || fail "job $id ran more than one a node"
  scontrol show job "$id" | grep -q "ExitCode=$want:0" ||
    fail "job $id ended $state, not with exit $want: $(scontrol show job "$id" | grep -o 'ExitCode=[0-9:]*')"
  echo "ok: $script on $nodes node(s): job $id ended with the application's exit status $want"
  test -f "$dir/job-$id.h5" || fail "job $id wrote no job file"
  "$python" - "$dir/job-$id.h5" "$id" "$want" "$nodes" <<'PY'
import sys, h5py, numpy
path, job_id, want, nodes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
f = h5py.File(path)
assert f.attrs["job_id"] == job_id and f.attrs["status"] == "complete", dict(f.attrs)
assert f.attrs["job_name"] == "cfd-run", f.attrs["job_name"]  # from the script's #SBATCH line
ranks = list(f["ranks/rank"][()])
assert ranks == list(range(2 * nodes)), ranks
hosts = sorted(set(f["ranks/host"].asstr()[()]))
assert hosts == ["n1", "n2"][:nodes], hosts  # two ranks on each node, as Slurm placed them
busy = f["ranks/cpu_utilization"][()]
assert (numpy.nanmax(busy, axis=1) > 0.25).all(), busy  # every rank computed (4 ranks may share 2 CPUs)
exes = [e.rsplit("/", 1)[-1] for e in f["processes/exe"].asstr()[()]]
assert exes.count("jobperf-demo-app") == 2 * nodes, exes
assert int(f.attrs["exit_status"]) == want, f.attrs["exit_status"]
clock = f["clock"]  # sidecars measure the nodes' offsets; after wrappers, the reducer does
assert clock.attrs["method"] == ("collectors" if f.attrs["collection_mode"] == "sidecar" else "reduce"), dict(clock.attrs)
assert sorted(clock["node"].asstr()[()]) == hosts, clock["node"][()]
print(f"ok: {path}: ranks {ranks} on {hosts}, all busy, their processes recorded, exit status {want}")
PY
}
run_job slurm-job 2 0
run_job slurm-job 2 3
run_job slurm-wrapped 2 0
run_job slurm-wrapped 2 3
echo "slurm: all checks passed"
