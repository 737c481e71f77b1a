#!/usr/bin/env bash
# Runs the anchorage-verify criterion bench RUNS times (default 3) and prints
# one table: per algorithm the median time of each contender over the runs,
# and the ratios b/a (throughput of our API against raw ring: ring time /
# our time), b/c (hickory time / our time), b/d (our cold time / memo-hit
# time) and e/b (batch-on-2-threads throughput / single-call throughput),
# each as median [min..max] over the runs. The 1-minute load average is
# read before each run and printed under the table: on a shared machine the
# batch column (e) means little without it.
#
#   bench/verify.sh            # 3 runs, 2 s measurement
#   RUNS=5 MEASURE=5 bench/verify.sh
#   FEATURES=aws-lc bench/verify.sh   # (b), (d), (e) on AWS-LC; (a) stays raw ring
#   PAIRED=0 bench/verify.sh          # without the paired e/b rounds
#
# Criterion measures (b) and (e) seconds apart; on a VM whose host changes
# speed from one minute to the next that alone moves e/b by a third. So
# after the runs, the bench's `--paired` mode times 32 single calls and one
# batch of 32 back to back, alternating, 21 rounds per algorithm, and
# prints the median [min..max] of the per-round e/b: the steadier figure.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
MEASURE="${MEASURE:-2}"
FEATURES="${FEATURES:-}"
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

for run in $(seq 1 "$RUNS"); do
    echo "run $run/$RUNS" >&2
    cut -d' ' -f1 /proc/loadavg >> "$OUT/load"
    cargo bench -p anchorage-verify --bench verify ${FEATURES:+--features "$FEATURES"} -- \
        --measurement-time "$MEASURE" --warm-up-time 1 verify/ >/dev/null 2>&1
    mkdir -p "$OUT/$run"
    cp -r "$TARGET/criterion/verify_"* "$OUT/$run/"
done

python3 - "$OUT" "$RUNS" <<'PY'
import json, os, pathlib, statistics, sys
out, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
BATCH = 32  # jobs per e_batch2 iteration, as in benches/verify.rs
algs = ["rsa2048", "rsa4096", "p256", "p384", "ed25519"]
parts = ["a_ring", "b_ours_cold", "c_hickory", "d_memo_hit", "e_batch2"]
def median_ns(run, alg, part):
    p = out / str(run) / f"verify_{alg}" / part / "new" / "estimates.json"
    return json.loads(p.read_text())["median"]["point_estimate"]
def fmt_t(ns):
    return f"{ns/1000:9.2f} us" if ns >= 1000 else f"{ns:9.0f} ns"
def fmt_r(xs):
    return f"{statistics.median(xs):6.2f} [{min(xs):.2f}..{max(xs):.2f}]"
print(f"{'alg':8} {'a ring':>12} {'b ours':>12} {'c hickory':>12} {'d memo hit':>12} {'e batch/job':>12}"
      f"  {'b/a':>20} {'b/c':>20} {'b/d':>22} {'e/b':>20}")
for alg in algs:
    t = {p: [median_ns(r, alg, p) for r in range(1, runs + 1)] for p in parts}
    per_job = [x / BATCH for x in t["e_batch2"]]
    # Ratios are throughput ratios: time of the baseline over our time.
    ba = [a / b for a, b in zip(t["a_ring"], t["b_ours_cold"])]
    bc = [c / b for c, b in zip(t["c_hickory"], t["b_ours_cold"])]
    bd = [b / d for b, d in zip(t["b_ours_cold"], t["d_memo_hit"])]
    eb = [b / e for b, e in zip(t["b_ours_cold"], per_job)]
    med = lambda xs: statistics.median(xs)
    print(f"{alg:8} {fmt_t(med(t['a_ring'])):>12} {fmt_t(med(t['b_ours_cold'])):>12} "
          f"{fmt_t(med(t['c_hickory'])):>12} {fmt_t(med(t['d_memo_hit'])):>12} {fmt_t(med(per_job)):>12}"
          f"  {fmt_r(ba):>20} {fmt_r(bc):>20} {fmt_r(bd):>22} {fmt_r(eb):>20}")
print(f"\n{runs} runs; times are medians of per-run criterion medians; ratios median [min..max].")
load = (out / "load").read_text().split()
print(f"1-minute load average before each run: {' '.join(load)} ({os.cpu_count()} cores)")
PY
if [ "${PAIRED:-1}" = 1 ]; then
    echo
    cargo bench -q -p anchorage-verify --bench verify ${FEATURES:+--features "$FEATURES"} -- --paired 2>/dev/null \
        | grep '^paired' || echo "paired rounds did not run"
fi
