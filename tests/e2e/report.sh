#!/usr/bin/env bash
# jobperf-report on a job of many ranks: a page a browser opens. Beyond 12
# rows a chart draws the band from the lowest to the highest value, the mean,
# and the rows that matter (the in-job outlier, the most and the least); no
# line has more points than the chart has pixels; the per-rank table keeps
# the extremes and the outliers; every chart is well-formed SVG.
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
echo "report: all checks passed"
