#!/usr/bin/env bash
# jobperf-report on a job of many ranks: a page a browser opens. Beyond 12
# rows a chart draws the band from the lowest to the highest value, the mean,
# and the rows that matter (the in-job outlier, the most and the least); no
# line has more points than the chart has pixels; the per-rank table keeps
# the extremes and the outliers; every chart is well-formed SVG. A job of
# hundreds of in-job findings prints and lists the first ones and says how
# many more the file holds.
source "$(dirname "$0")/lib.sh"

"$bin/jobperf-test-make-streams" --dir "$work/streams" --ranks 80 --hosts 40 --samples 9000 --job-id wide \
  --imbalance 5 >/dev/null
"${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --quiet -o "$work/wide.h5" "$work/streams"
expect_status 0 "report a job of 80 ranks and 9000 steps" "$bin/jobperf-report" "$work/wide.h5" -o "$work/wide.html"
"$python" - "$work/wide.html" <<'PY'
import re, sys
import xml.etree.ElementTree as ET
html = open(sys.argv[1]).read()
assert len(html) < 1_000_000, f"{len(html)} bytes"
svgs = re.findall(r"<svg.*?</svg>", html, re.S)
assert len(svgs) >= 4, len(svgs)
for svg in svgs:
    root = ET.fromstring(svg)  # attribute values escaped: "the node's CPU" broke them
    for path in root.iter("path"):
        points = len(re.findall(r"[ML]", path.get("d")))
        assert points <= 2 * 560 + 1, points  # a band goes along and back
cpu = next(s for s in svgs if "CPU cores in use" in s)
for text in ("lowest to highest of 80", "mean of the 80", "rank 5 (in-job outlier", "(most)"):
    assert text in cpu, text
table = html[html.index("<h2>Per rank</h2>"):]
table = table[:table.index("</table>")]
assert "of 80 ranks: the 10 that used the most CPU" in table, table[:300]
rows = re.findall(r"<tr(?: class='(\w+)')?><td>(-?\d+)</td>", table)
assert 20 <= len(rows) <= 21, len(rows)
assert ("outlier", "5") in rows, rows
assert "and 8 more" in html  # 40 hosts, 32 listed
print("ok: the report of 80 ranks draws bands and the rows that matter,", len(html), "bytes")
PY
# A job whose nodes all differ (1024 nodes of one rank, each using more CPU
# than the last): the quarter that used least counts as stalled. The reduce
# prints the first 20 findings and says how many more the file holds; the
# report lists 50.
"$bin/jobperf-test-make-streams" --dir "$work/ramp" --ranks 1024 --hosts 1024 --samples 10 --job-id ramp >/dev/null
expect_status 0 "reduce a job of 1024 unequal nodes" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" -o "$work/ramp.h5" \
  "$work/ramp"
[ "$(grep -c "^  outlier: " "$work/last.out")" -eq 20 ] || fail "not 20 outliers printed: $(head -c 2000 "$work/last.out")"
expect_message "... and 108 more outliers, all in $work/ramp.h5's /outliers" "the reduce says how many more"
expect_status 0 "report it" "$bin/jobperf-report" "$work/ramp.h5" -o "$work/ramp.html"
[ "$(grep -o "<li>node node[0-9]* stalled" "$work/ramp.html" | wc -l)" -eq 50 ] || fail "the report does not list 50"
grep -q "<li>… 78 more: <code>jobperf-export --csv</code> writes them all" "$work/ramp.html" ||
  fail "the report does not say how many more"
echo "report: all checks passed"
