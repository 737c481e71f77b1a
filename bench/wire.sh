#!/usr/bin/env bash
# QueryView::parse vs hickory-proto Message::from_vec, criterion, RUNS runs;
# prints each parser's median time and the speed-up over hickory, median
# [min..max] over the runs (ratios are taken within each run).
# Usage: RUNS=5 MEASURE=3 bench/wire.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
measure=${MEASURE:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for i in $(seq "$runs"); do
  cargo bench -q -p anchorage-wire --bench parse_query -- \
    --warm-up-time 1 --measurement-time "$measure" >/dev/null 2>&1
  for f in target/criterion/parse_query_*/*/new/estimates.json; do
    group=$(basename "$(dirname "$(dirname "$(dirname "$f")")")")
    fn=$(basename "$(dirname "$(dirname "$f")")")
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' "$f" \
      >> "$dir/$group.$fn"
  done
done
python3 - "$dir" <<'PY'
import os, statistics, sys
d = sys.argv[1]
data = {}
for name in os.listdir(d):
    group, fn = name.rsplit(".", 1)
    data.setdefault(group, {})[fn] = [float(x) for x in open(os.path.join(d, name))]
print(f"{'query':<16} {'parser':<16} {'median ns':>10} {'speed-up vs hickory':>24}")
for group in sorted(data):
    base = data[group]["hickory"]
    for fn in ("hickory", "anchorage", "anchorage_reuse"):
        times = data[group].get(fn)
        if not times:
            continue
        ratios = sorted(b / t for b, t in zip(base, times))
        cell = f"{statistics.median(ratios):.1f}x [{ratios[0]:.1f}..{ratios[-1]:.1f}]"
        print(f"{group.removeprefix('parse_query_'):<16} {fn:<16} {statistics.median(times):>10.1f} {cell:>24}")
PY
