#!/usr/bin/env bash
# Runs the anchorage-cache answer-hit bench RUNS times (default 3) and prints
# one table: for Zipf(1) and uniform picks over 1M cached answers, single
# lookups and batched ones (lookup_many), the hits/s of one thread and of
# two, and the ratio two/one, each as median [min..max] over the runs; then
# the heap held per stored wire byte (counting allocator). The 1-minute load
# average is read before each run and printed under the table: on a shared
# machine the figures mean little without it.
#
#   bench/cache.sh                   # 3 runs, 3 s measurement
#   RUNS=5 MEASURE=5 bench/cache.sh
#   HUGEPAGES=1 bench/cache.sh       # malloc asks for transparent huge pages
#   PAIRED=0 bench/cache.sh          # without the paired scaling rounds
#
# Criterion times one thread and two threads in phases seconds apart; on a
# VM whose host changes speed that alone can move the 2/1 ratio by half.
# So after the criterion runs, the same bench binary's `--paired` mode
# times one thread and two threads back to back in 41 rounds and prints
# the median [min..max] of the per-round ratios: the steadier scaling
# figure. In the same rounds it times the control (bench/control.rs:
# register arithmetic, nothing shared) one thread against two: what the
# host gives two threads at all, and the cache's 2/1 over the control's.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
MEASURE="${MEASURE:-3}"
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
if [ "${HUGEPAGES:-0}" = 1 ]; then
    # glibc >= 2.35: madvise(MADV_HUGEPAGE) on malloc's heap, so random
    # lookups over a large cache miss the TLB far less.
    export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
fi

for run in $(seq 1 "$RUNS"); do
    echo "run $run/$RUNS" >&2
    cut -d' ' -f1 /proc/loadavg >> "$OUT/load"
    cargo bench -p anchorage-cache --bench answer_cache -- \
        --measurement-time "$MEASURE" --warm-up-time 1 'answer_hit_1m/(zipf|uniform)' \
        2> "$OUT/stderr.$run" >/dev/null
    grep '^memory:' "$OUT/stderr.$run" >> "$OUT/memory" || true
    mkdir -p "$OUT/$run"
    cp -r "$TARGET/criterion/answer_hit_1m" "$OUT/$run/"
done

if [ "${PAIRED:-1}" = 1 ]; then
    echo "paired rounds" >&2
    cargo bench -p anchorage-cache --bench answer_cache -- --paired 2>/dev/null \
        | grep '^paired' > "$OUT/paired" || true
fi

python3 - "$OUT" "$RUNS" <<'PY'
import json, pathlib, statistics, sys
out, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def hits_per_s(run, name, threads):
    p = out / str(run) / "answer_hit_1m" / name / "new" / "estimates.json"
    ns = json.loads(p.read_text())["median"]["point_estimate"]
    return threads * 1e9 / ns
def fmt(xs, scale=1e6, unit="M"):
    xs = sorted(x / scale for x in xs)
    return f"{statistics.median(xs):6.2f}{unit} [{xs[0]:.2f}..{xs[-1]:.2f}]"
print(f"{'answer hit, 1M entries':26} {'1 thread hits/s':24} {'2 threads hits/s':24} 2/1")
for pick in ["zipf", "uniform"]:
    for mode in ["single", "batched"]:
        one = [hits_per_s(r, f"{pick}_{mode}_1_thread", 1) for r in range(1, runs + 1)]
        two = [hits_per_s(r, f"{pick}_{mode}_2_threads", 2) for r in range(1, runs + 1)]
        ratio = [b / a for a, b in zip(one, two)]
        print(f"{pick + ' ' + mode:26} {fmt(one):24} {fmt(two):24} {fmt(ratio, 1, 'x')}")
mem = (out / "memory").read_text().strip().splitlines()
print(mem[0] if mem else "memory: not reported")
loads = (out / "load").read_text().split()
print("load average before each run:", " ".join(loads))
PY
[ ! -s "$OUT/paired" ] || { echo; cat "$OUT/paired"; }
