#!/usr/bin/env bash
# Clock alignment on one machine posing as two unsynchronised nodes: each
# MPI rank gets its own host name (JOBPERF_HOSTNAME) and a clock that is off
# by a known offset and drift (JOBPERF_CLOCK_SKEW). The job file must recover
# them within its stated bound, and the ranks' samples, started together,
# must line up on the job timeline although their clocks are seconds apart.
# Each node's time daemon also claims a bound on its distance from UTC, which
# the wrapper-mode bound must add up, or give up on (-1) when a clock is not
# synchronised.
source "$(dirname "$0")/lib.sh"

offset=2500000000  # sim1 runs 2.5 s ahead...
drift=90           # ...and gains 90 us per second
utc0=300000 utc1=700000  # what the nodes' time daemons claim: within 0.3 and 0.7 ms of UTC
# as_node DRIFT_PPM SIM1_UTC_ERROR_NS COMMAND...: runs the command as simulated node sim<rank>.
cat >"$work/as_node" <<SH
#!/usr/bin/env bash
export JOBPERF_HOSTNAME=sim\$OMPI_COMM_WORLD_RANK JOBPERF_CLOCK_SKEW=0,0,$utc0
[ "\$OMPI_COMM_WORLD_RANK" = 1 ] && export JOBPERF_CLOCK_SKEW=$offset,\$1,\$2
shift 2
exec "\$@"
SH
chmod +x "$work/as_node"

check() {  # check JOB_FILE METHOD DRIFT_PPM
  "$python" - "$@" "$offset" <<'PY'
import sys, h5py, numpy as np
path, method, drift, offset = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
f = h5py.File(path)
c = f["clock"]
assert c.attrs["method"] == method, c.attrs["method"]
assert c.attrs["reference_host"] == "sim0", c.attrs["reference_host"]
nodes = [n.decode() for n in c["node"][:]]
i = nodes.index("sim1")
assert c["measured"][i] == 1
bound = c["bound_ns"][i]
for when in ("start", "stop"):
    mono = c[when + "_mono_ns"][i]
    raw = (mono - offset) / (1 + drift * 1e-6)          # the machine's real clock then
    truth = offset + drift * 1e-6 * raw
    error = abs(c[when + "_offset_ns"][i] - truth)
    assert error <= bound + 100, (when, error, bound)
    print(f"ok: {when} offset of sim1 recovered within {error:.0f} ns (bound {bound} ns)")
if drift:
    got = c["drift_ppm"][i]
    assert abs(got - drift) < 2, got
    print(f"ok: drift {got:.2f} ppm recovered (injected {drift})")
# Ranks started together: their first samples line up despite the 2.5 s skew.
cpu = f["ranks/cpu_utilization"][:]
t = f["ranks/time"][:]
first = {int(r): t[np.argmax(~np.isnan(row))] for r, row in zip(f["ranks/rank"][:], cpu) if r >= 0}
gap = abs(first[1] - first[0]) * 1e-9
assert gap < 0.35, first
print(f"ok: ranks 0 and 1 start {gap:.3f} s apart on the job timeline (clocks {offset*1e-9:.1f} s apart)")
PY
}

# check_utc_bounds JOB_FILE SIM1_AT_REDUCE: the daemons' claims recorded, and
# the wrapper-mode bound of sim1 their sum with the measurement's (-1: none).
check_utc_bounds() {
  "$python" - "$@" $utc0 $utc1 <<'PY'
import sys, h5py
path, at_reduce, utc0, utc1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c = h5py.File(path)["clock"]
nodes = [n.decode() for n in c["node"][:]]
i, ref = nodes.index("sim1"), nodes.index("sim0")
assert list(c["utc_error_ns"][[ref, i]]) == [utc0, utc1], c["utc_error_ns"][:]
assert list(c["reduce_utc_error_ns"][[ref, i]]) == [utc0, at_reduce], c["reduce_utc_error_ns"][:]
bound, measured = c["bound_ns"][i], (c["start_rtt_ns"][i] + 1) // 2
want = -1 if at_reduce < 0 else measured + 2 * utc0 + utc1 + at_reduce
assert bound == want, (bound, want)
assert c["bound_ns"][ref] == 0
if want < 0:
    assert "No bound" in c.attrs["guarantee"] and "sim1" in c.attrs["guarantee"], c.attrs["guarantee"]
print(f"ok: sim1's wrapper-mode bound {bound} ns (measurement {measured} ns + the time daemons' claims)")
PY
}

# 1. Sidecars under mpirun measure at start and stop: offset and drift recovered.
"${mpirun[@]}" -np 2 "$work/as_node" $drift $utc1 bash -c \
  'exec "$0" --quiet --job-id clk1 --match-env JOBPERF_TEST_NODE=$JOBPERF_HOSTNAME --interval 0.1' \
  "$bin/jobperf-collect" &
sidecars=$!
# The job starts once both sidecars have measured their start offsets and
# opened their streams: under load that took longer than the job's 2 s.
for _ in $(seq 300); do
  [ -e "$JOBPERF_SCRATCH/jobperf/clk1/sim0.node.jps" ] && [ -e "$JOBPERF_SCRATCH/jobperf/clk1/sim1.node.jps" ] && break
  sleep 0.1
done
for rank in 0 1; do
  env JOBPERF_TEST_NODE=sim$rank OMPI_COMM_WORLD_RANK=$rank stress-ng --cpu 1 --timeout 2 --quiet &
done
wait "$sidecars" || fail "the sidecars exited with $?"
"${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --quiet --job-id clk1 -o "$work/clk1.h5"
check "$work/clk1.h5" collectors $drift
"$python" - "$work/clk1.h5" $utc0 $utc1 <<'PY' || fail "the sidecars' UTC error bounds were not recorded"
import sys, h5py
c = h5py.File(sys.argv[1])["clock"]
assert list(c["utc_error_ns"][:]) == [int(sys.argv[2]), int(sys.argv[3])], c["utc_error_ns"][:]
PY

# 2. Wrapper mode: jobperf-reduce measures the offset itself, on the same simulated nodes.
"${mpirun[@]}" -np 2 "$work/as_node" 0 $utc1 "$bin/jobperf-collect" --quiet --job-id clk2 --interval 0.1 -- \
  stress-ng --cpu 1 --timeout 1 --quiet
"${mpirun[@]}" -np 2 "$work/as_node" 0 $utc1 "$bin/jobperf-reduce" --quiet --job-id clk2 -o "$work/clk2.h5"
check "$work/clk2.h5" reduce 0
check_utc_bounds "$work/clk2.h5" $utc1
"$bin/jobperf-report" "$work/clk2.h5" -o "$work/clk2.html"
grep -q "reduce (reference sim0): 2 node(s), worst error bound 2 ms" "$work/clk2.html" ||
  fail "the report does not state the clock alignment's bound"
# 3. The same streams reduced while sim1's clock is not synchronised: nothing bounds it.
"${mpirun[@]}" -np 2 "$work/as_node" 0 -1 "$bin/jobperf-reduce" --quiet --job-id clk2 -o "$work/clk3.h5"
check_utc_bounds "$work/clk3.h5" -1
"$bin/jobperf-report" "$work/clk3.h5" -o "$work/clk3.html"
grep -q "no error bound for sim1" "$work/clk3.html" || fail "the report does not say that sim1's clock has no bound"
echo "clock: all checks passed"
