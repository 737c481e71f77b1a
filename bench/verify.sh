#!/usr/bin/env bash
# Runs the anchorage-verify bench RUNS times (default 3) and prints one
# table: per algorithm the median time of each contender over the runs —
# (a) raw ring over pre-built signed bytes, (b) our API with the memo off,
# (c) hickory-proto's own verification, (d) our API with a memo hit, (e) our
# batch on 2 threads, per job — and the ratios b/a (raw ring time / our
# time), b/c (hickory time / our time), b/d (our cold time / memo-hit time)
# and e/b (batch throughput / single-call throughput), each as median
# [min..max] over the runs.
#
#   bench/verify.sh                    # 3 runs, AWS-LC backend (the default)
#   RUNS=5 MEASURE=5 bench/verify.sh
#   BACKEND=ring bench/verify.sh       # (b), (d), (e) on ring as well
#
# Times come from criterion. The ratios come from the bench's `--paired`
# mode instead: per round it times 32 checks of (a), (b) and (c), 8 x 32
# memo hits (d), one 2-thread batch of 32 (e) and the control
# (bench/control.rs, as long as (b), on one thread and on two) back to
# back, in an order that rotates, 301 rounds, and takes the median of the
# per-round ratios.
# Criterion measures the contenders seconds apart, and this VM's speed
# drifts by ±20 % from one minute to the next — more than the margins the
# ratios are held to. Each run gives one paired median per ratio; the table
# shows the median of those over the runs, [min..max] their spread.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
MEASURE="${MEASURE:-2}"
case "${BACKEND:-aws-lc}" in
    aws-lc) FLAGS=() ;;
    ring) FLAGS=(--no-default-features) ;;
    *) echo "BACKEND must be aws-lc or ring" >&2; exit 2 ;;
esac
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

for run in $(seq 1 "$RUNS"); do
    echo "run $run/$RUNS" >&2
    cut -d' ' -f1 /proc/loadavg >> "$OUT/load"
    cargo bench -q -p anchorage-verify --bench verify "${FLAGS[@]}" -- \
        --measurement-time "$MEASURE" --warm-up-time 1 verify/ >/dev/null 2>&1
    mkdir -p "$OUT/$run"
    cp -r "$TARGET/criterion/verify_"* "$OUT/$run/"
    cargo bench -q -p anchorage-verify --bench verify "${FLAGS[@]}" -- --paired 2>/dev/null \
        | grep '^paired ' > "$OUT/paired.$run"
done

python3 - "$OUT" "$RUNS" "${BACKEND:-aws-lc}" <<'PY'
import json, os, pathlib, re, statistics, sys
out, runs, backend = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
BATCH = 32  # jobs per e_batch2 iteration, as in benches/verify.rs
algs = ["rsa2048", "rsa4096", "p256", "p384", "ed25519"]
parts = ["a_ring", "b_ours_cold", "c_hickory", "d_memo_hit", "e_batch2"]
def median_ns(run, alg, part):
    p = out / str(run) / f"verify_{alg}" / part / "new" / "estimates.json"
    return json.loads(p.read_text())["median"]["point_estimate"]
# "paired rsa2048  b/a 0.983 [..]  b/c 1.039 [..]  e/b 1.656 [..]"
paired = {}
for run in range(1, runs + 1):
    for line in (out / f"paired.{run}").read_text().splitlines():
        alg = line.split()[1]
        for name, value in re.findall(r"(b/a|b/c|b/d|e/b|control 2/1) ([0-9.]+)", line):
            paired.setdefault((alg, name), []).append(float(value))
def fmt_t(ns):
    return f"{ns/1000:9.2f} us" if ns >= 1000 else f"{ns:9.0f} ns"
def fmt_r(xs):
    return f"{statistics.median(xs):6.2f} [{min(xs):.2f}..{max(xs):.2f}]" if xs else "-"
print(f"backend under (b), (d), (e): {backend}")
print(f"{'alg':8} {'a ring':>12} {'b ours':>12} {'c hickory':>12} {'d memo hit':>12} {'e batch/job':>12}"
      f"  {'b/a':>20} {'b/c':>20} {'b/d':>22} {'e/b':>20} {'control 2/1':>20}")
for alg in algs:
    t = {p: [median_ns(r, alg, p) for r in range(1, runs + 1)] for p in parts}
    per_job = [x / BATCH for x in t["e_batch2"]]
    med = statistics.median
    print(f"{alg:8} {fmt_t(med(t['a_ring'])):>12} {fmt_t(med(t['b_ours_cold'])):>12} "
          f"{fmt_t(med(t['c_hickory'])):>12} {fmt_t(med(t['d_memo_hit'])):>12} {fmt_t(med(per_job)):>12}"
          f"  {fmt_r(paired.get((alg, 'b/a'), [])):>20} {fmt_r(paired.get((alg, 'b/c'), [])):>20}"
          f" {fmt_r(paired.get((alg, 'b/d'), [])):>22} {fmt_r(paired.get((alg, 'e/b'), [])):>20}"
          f" {fmt_r(paired.get((alg, 'control 2/1'), [])):>20}")
print(f"\n{runs} runs. Times: medians of per-run criterion medians.")
print("Ratios: per run the median of 301 paired rounds; here median [min..max] over runs.")
print("control 2/1: bench/control.rs as long as (b), one thread against two, in the same rounds:")
print("what this host gives two threads at all, the ceiling for e/b.")
load = (out / "load").read_text().split()
print(f"1-minute load average before each run: {' '.join(load)} ({os.cpu_count()} cores)")
PY
