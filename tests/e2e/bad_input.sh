#!/usr/bin/env bash
# Bad input: a clear message naming the thing, a non-zero exit, nothing
# overwritten; and the application's exit status always passes through.
source "$(dirname "$0")/lib.sh"

# Exit statuses and signals pass through the wrapper untouched.
expect_status 7 "exit code passes through" "$bin/jobperf-collect" --quiet --job-id x1 -- sh -c 'exit 7'
expect_status 137 "death by SIGKILL passes through" "$bin/jobperf-collect" --quiet --job-id x2 -- sh -c 'kill -KILL $$'
expect_status 127 "a missing command fails as in a shell" "$bin/jobperf-collect" --quiet --job-id x3 -- /no/such/program
expect_message "cannot run /no/such/program" "the missing command is named"

# Usage errors.
expect_status 2 "unknown option" "$bin/jobperf-collect" --bogus
expect_message "unrecognised option '--bogus'" "the option is named"
expect_status 2 "interval too small" "$bin/jobperf-collect" --interval 0.001 -- true
expect_status 2 "sidecar without a way to find the job" env -u SLURM_JOB_ID "$bin/jobperf-collect" --job-id x4
expect_message "sidecar mode needs" "the sidecar says what it needs"
expect_status 2 "reduce: unknown option" "${mpirun[@]}" -np 1 "$bin/jobperf-reduce" --bogus
# Numbers out of range, NaN included (NaN passes a plain "x < lower" test).
expect_status 2 "collect: NaN interval" "$bin/jobperf-collect" --interval nan -- true
expect_status 2 "collect: flush too long" "$bin/jobperf-collect" --flush 1e300 -- true
expect_message "not 1e+300" "the value is shown"
for bad in "--bin nan" "--bin 1e-12" "--threads -1" "--window nan"; do
  # shellcheck disable=SC2086  # two words: the option and its value
  expect_status 2 "reduce: $bad" "${mpirun[@]}" -np 1 "$bin/jobperf-reduce" $bad "$work"
done
expect_status 2 "analyze: NaN --min-deviation" "${mpirun[@]}" -np 1 "$bin/jobperf-analyze" --min-deviation nan "$work"

# Unwritable scratch: the sidecar refuses; the wrapper still runs the application.
expect_status 1 "sidecar with unwritable scratch" "$bin/jobperf-collect" --out /proc/jobperf --job-id x5 --pid $$
expect_message "/proc/jobperf" "the scratch path is named"
expect_status 5 "wrapper with unwritable scratch runs the command anyway" \
  "$bin/jobperf-collect" --out /proc/jobperf --job-id x6 -- sh -c 'exit 5'
expect_message "without collection" "the wrapper says it is not collecting"

# Scratch fills up mid-run (a 12 kB file-size limit): collection stops, the
# command runs to its end with its own exit status, and the stream that was
# written reduces to a partial job file.
expect_status 3 "a full scratch does not disturb the command" \
  prlimit --fsize=12000 "$bin/jobperf-collect" --job-id full --interval 0.01 --flush 0.01 -- sh -c 'sleep 1; exit 3'
expect_message "collection stops, the application is not affected" "the write failure is reported"
expect_message "records lost" "the loss is counted"
expect_status 3 "the truncated stream reduces to a partial job file" \
  "${mpirun[@]}" -np 1 "$bin/jobperf-reduce" --job-id full -o "$work/full.h5"
expect_message "no end block" "the missing end is named"

# Reduce: empty, foreign, mixed, damaged input; existing output.
mkdir -p "$work/empty"
expect_status 1 "reduce an empty directory" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" -o "$work/o.h5" "$work/empty"
expect_message "$work/empty: no jobperf streams" "the directory is named"
mkdir -p "$work/foreign" && echo "not a stream" >"$work/foreign/n1.rank0.jps"
expect_status 1 "reduce a foreign file" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" -o "$work/o.h5" "$work/foreign"
expect_message "n1.rank0.jps: not a jobperf stream" "the foreign file is named"
"$bin/jobperf-test-make-streams" --dir "$work/mixed" --ranks 2 --hosts 1 --samples 5 --job-id A
"$bin/jobperf-test-make-streams" --dir "$work/mixed-b" --ranks 3 --hosts 1 --samples 5 --job-id B
cp "$work/mixed-b/node0.rank2.jps" "$work/mixed/"
expect_status 1 "reduce streams of two jobs" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" -o "$work/o.h5" "$work/mixed"
expect_message "different jobs" "mixing jobs is refused"
expect_message "node0.rank2.jps: job B" "the stranger stream is named"
test ! -e "$work/o.h5" || fail "a failed reduce left a job file"

"$bin/jobperf-test-make-streams" --dir "$work/good" --ranks 2 --hosts 1 --samples 30 --job-id G
expect_status 0 "reduce good streams" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" -o "$work/g.h5" "$work/good"
before=$(sha256sum "$work/g.h5")
expect_status 1 "an existing job file is kept" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" -o "$work/g.h5" "$work/good"
expect_message "already exists (use --force" "the refusal says how to override"
[ "$(sha256sum "$work/g.h5")" = "$before" ] || fail "the existing job file changed"
expect_status 0 "--force replaces it" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --force -o "$work/g.h5" "$work/good"
mkdir -p "$work/a-dir"
expect_status 1 "-o naming a directory" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --force -o "$work/a-dir" "$work/good"
expect_message "a-dir: is a directory" "the directory is named"
test ! -e "$work/a-dir.tmp" || fail "a refused reduce left its temporary file"
# The same stream given twice (a second path to it, and a copy): read once.
mkdir -p "$work/copies" && cp "$work/good/node0.rank1.jps" "$work/copies/"
expect_status 0 "streams given twice" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" -o "$work/twice.h5" \
  "$work/good" "$work/good/../good/node0.rank0.jps" "$work/copies"
expect_message "node0.rank0.jps: left out, the same stream as" "the second path is named"
expect_message "node0.rank1.jps: left out, the same stream as" "the copy is named"
grep -q "copies/node0.rank1.jps" "$work/last.err" || fail "the copy's path is not given"
"$python" -c "import h5py,sys; r=list(h5py.File(sys.argv[1])['ranks/rank'][()]); assert r == [0, 1], r" "$work/twice.h5" ||
  fail "a stream given twice made two rows"

stream="$work/good/node0.rank1.jps"
truncate -s $(( $(stat -c %s "$stream") - 100 )) "$stream"
expect_status 3 "a torn stream gives a partial job file" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" -o "$work/torn.h5" "$work/good"
expect_message "node0.rank1.jps: damaged at byte" "the damage is located"
"$python" -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert f.attrs['status']=='partial'; assert 'damaged at byte' in f.attrs['problems']" "$work/torn.h5"

# A stream whose header is damaged cannot be read at all: the others still make the job file.
"$bin/jobperf-test-make-streams" --dir "$work/headless" --ranks 3 --hosts 1 --samples 30 --job-id H
printf 'XXXX' | dd of="$work/headless/node0.rank1.jps" bs=1 seek=40 conv=notrunc status=none
expect_status 3 "an unreadable stream gives a partial job file" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" -o "$work/headless.h5" "$work/headless"
expect_message "node0.rank1.jps: header block damaged at byte 16: CRC mismatch; the stream is left out" "the unreadable stream is named"
"$python" -c "
import h5py, sys
f = h5py.File(sys.argv[1])
assert list(f['ranks/rank'][()]) == [0, 2], f['ranks/rank'][()]
problems = str(f.attrs['problems'])
assert 'node0.rank1.jps: header block damaged' in problems and 'ranks missing' in problems, problems
" "$work/headless.h5" || fail "the job file does not hold the readable ranks and name the unreadable stream"
rm "$work/headless/node0.rank0.jps" "$work/headless/node0.rank2.jps"
expect_status 1 "no readable stream: the reduce fails" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" -o "$work/none.h5" "$work/headless"
expect_message "node0.rank1.jps: header block damaged" "the reason is given"
"$bin/jobperf-test-make-streams" --dir "$work/stub" --ranks 1 --hosts 1 --samples 30 --job-id S
truncate -s 300 "$work/stub/node0.rank0.jps"
expect_status 1 "a stream torn before its first sample: nothing to write" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" -o "$work/stub.h5" "$work/stub"
expect_message "node0.rank0.jps: damaged at byte" "the empty job's damage is named"

# Analyze and report.
echo "not hdf5" >"$work/bad.h5"
expect_status 1 "analyze a file that is not HDF5" "${mpirun[@]}" -np 2 "$bin/jobperf-analyze" --out "$work/c.h5" "$work/bad.h5"
expect_message "bad.h5: not an HDF5 file" "the bad file is named"
expect_status 1 "report a missing file" "$bin/jobperf-report" "$work/missing.h5"
expect_message "missing.h5" "the missing file is named"
expect_status 1 "report into a directory" "$bin/jobperf-report" --force "$work/g.h5" -o "$work/a-dir"
expect_message "a-dir: is a directory" "the directory is named"
expect_status 1 "export CSV under a file" "$bin/jobperf-export" "$work/g.h5" --csv "$work/g.h5/csv"
expect_message "g.h5/csv: cannot create the directory (Not a directory)" "the path and the reason are given"
echo "bad input: all checks passed"
