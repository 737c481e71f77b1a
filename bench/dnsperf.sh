#!/usr/bin/env bash
# Anchorage against Debian's unbound under dnsperf, on the loopback testbed.
#
# One testbed (ZONES signed zones, one server thread) serves 127.NET.x.y
# port 53. Each run starts a resolver pinned to core 0 with one worker
# thread, warms it with the hot file, loads it for HOT_SECS with the hot
# file, stops it, then starts a fresh one and sends it every name of the
# cold file once (at most COLD_SECS). dnsperf (and the testbed) run on
# core 1. Runs interleave, A U A U ..., RUNS of each. Prints per run and
# one table: median [min..max] of queries/s, average and p99 latency, lost
# queries, SERVFAILs, peak RSS, and resolver CPU per answered query
# ((utime+stime of all threads, /proc/PID/stat) over the dnsperf run ÷
# queries completed), then the Anchorage/unbound ratios per run pair.
#
# Both resolvers know only the testbed: its root hints, its trust anchor.
# unbound validates (module-config "validator iterator", trust-anchor-file),
# do-ip6 no, one loopback interface, loopback access only, no
# remote-control. Anchorage gets --trust-anchor with the testbed's anchor
# when the binary accepts it, and runs without it (saying so in the table)
# when it does not. VALIDATE=0 leaves the flag out: a binary that validates
# then uses its built-in IANA anchors, and every testbed answer is SERVFAIL.
#
# Needs root (the testbed serves port 53: unbound asks port 53 only),
# dnsperf and unbound (deploy/install-test-deps.sh), two cores.
#
#   bench/dnsperf.sh                          # 3 runs each, 20 s hot, cold ≤ 60 s
#   RUNS=5 HOT_SECS=30 bench/dnsperf.sh
#   VALIDATE=0 bench/dnsperf.sh               # Anchorage without --trust-anchor
#   BUILD=0 CARGO_TARGET_DIR=/work/target-bench bench/dnsperf.sh  # binaries as built
#   SRC=/tmp/tree BUILD=1 bench/dnsperf.sh    # build another source tree
#   KEEP=1 bench/dnsperf.sh                   # keep logs and dnsperf output
#   EXTRA=unbound-noval bench/dnsperf.sh      # also unbound without its validator
#   DNSPERF_OPTS="-Q 40000" bench/dnsperf.sh  # same offered load for both
#   ANCHORAGE_OPTS="--rfc5011 false" bench/dnsperf.sh  # more Anchorage flags
#   STEER_LO=1 bench/dnsperf.sh               # loopback delivery on the load core
#
# On loopback the sender's core also runs the receiver's side of each
# packet (netif_rx, socket lookup, queueing, waking the reader), so by
# default each resolver is charged dnsperf's receive work for every reply
# it sends: about half of its kernel send cost. Behind a NIC that work is
# the client's. STEER_LO=1 points loopback's receive packet steering
# (/sys/class/net/lo/queues/rx-0/rps_cpus) at the load core for the run,
# the same for every contender, and puts the old mask back on exit.
#
# Latency comes from dnsperf -v (one line per query; Debian's dnsperf 2.10
# has no histogram), which costs dnsperf about a tenth of its throughput:
# on two cores queries/s is often dnsperf's limit, not the resolver's, so
# CPU per answer is the figure to compare. The testbed shares core 1 with
# dnsperf so that only the resolver runs on core 0.
#
# Every process it starts runs under `timeout`, so even a killed script
# leaves nothing running for long; the EXIT trap stops them by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

RUNS="${RUNS:-3}"
HOT_SECS="${HOT_SECS:-20}"
COLD_SECS="${COLD_SECS:-60}"
ZONES="${ZONES:-2000}"
SEED="${SEED:-1}"
NET="${NET:-211}"             # testbed on 127.NET.x.y; resolvers on 127.NET.255.{1,2,3}
VALIDATE="${VALIDATE:-1}"
BUILD="${BUILD:-1}"
SRC="${SRC:-$REPO}"           # source tree to build
KEEP="${KEEP:-0}"
DNSPERF_OPTS="${DNSPERF_OPTS:-}"  # extra dnsperf flags, e.g. "-c 4 -q 200"
ANCHORAGE_OPTS="${ANCHORAGE_OPTS:-}"  # extra anchorage flags, e.g. "--rfc5011 false"
STEER_LO="${STEER_LO:-0}"
RPS_FILE=/sys/class/net/lo/queues/rx-0/rps_cpus
RPS_BEFORE=
RESOLVER_CORE=0
LOAD_CORE=1
TARGET="${CARGO_TARGET_DIR:-$SRC/target}"
BIN="$TARGET/release"
EXTRA="${EXTRA:-}"            # more contenders: unbound-noval
CONTENDERS=(anchorage unbound $EXTRA)
A_ADDR="127.$NET.255.1"
U_ADDR="127.$NET.255.2"
N_ADDR="127.$NET.255.3"       # unbound-noval
PORT=5300

die() { echo "dnsperf.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root: the testbed serves port 53 (unbound asks port 53 only)"
for tool in dnsperf unbound unbound-checkconf dig taskset timeout python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool missing: run deploy/install-test-deps.sh"
done
[ "$(nproc)" -ge 2 ] || die "needs two cores (resolver on core 0, load on core 1)"
if ss -Hltun | grep -q " 127\.$NET\.[0-9]*\.[0-9]*:"; then
  die "127.$NET.0.0/16 is in use on this machine; pick another NET="
fi

if [ "$BUILD" = 1 ]; then
  echo "building release binaries from $SRC into $TARGET..." >&2
  (cd "$SRC" && CARGO_TARGET_DIR="$TARGET" cargo build --release -q -p anchorage -p anchorage-testbed)
fi
[ -x "$BIN/anchorage" ] && [ -x "$BIN/anchorage-testbed" ] || die "no binaries in $BIN"

DIR="$(mktemp -d /tmp/anchorage-dnsperf.XXXXXX)"
WRAPPERS=()   # PIDs of the `timeout` wrappers of everything started here
LOAD_PID=     # the dnsperf running now, if any
cleanup() {
  local pid
  [ -z "$LOAD_PID" ] || { kill "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; }
  for pid in "${WRAPPERS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${WRAPPERS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$KEEP" = 1 ]; then echo "kept $DIR" >&2; else rm -rf "$DIR"; fi
  [ -z "$RPS_BEFORE" ] || echo "$RPS_BEFORE" > "$RPS_FILE" || echo "dnsperf.sh: could not restore $RPS_FILE to $RPS_BEFORE" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Upper bound of the whole run: the testbed and every resolver die by then.
PER_RESOLVER=$((HOT_SECS + COLD_SECS + 60))
LIFETIME=$((RUNS * ${#CONTENDERS[@]} * 2 * PER_RESOLVER + 120))

# The child of a `timeout` wrapper (the process to measure).
child_of() {
  local wrapper=$1 kids
  for _ in $(seq 50); do
    kids=$(cat "/proc/$wrapper/task/$wrapper/children" 2>/dev/null || true)
    [ -n "$kids" ] && { echo "${kids%% *}"; return; }
    sleep 0.05
  done
  die "process under timeout $wrapper did not start"
}

# utime+stime of every thread of a process, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# Peak resident set of a process, in KiB.
peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# Runs dnsperf on the load core in the background and waits for it, so a
# signal reaches the EXIT trap at once rather than after the run.
load() { # dnsperf arguments...
  local status=0
  taskset -c "$LOAD_CORE" dnsperf "$@" &
  LOAD_PID=$!
  wait "$LOAD_PID" || status=$?
  LOAD_PID=
  return "$status"
}

stop_wrapper() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() pid
  for pid in "${WRAPPERS[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  WRAPPERS=("${kept[@]}")
}

wait_answering() { # addr name log
  for _ in $(seq 100); do
    if dig +time=1 +tries=1 @"$1" -p "$PORT" "$2" A >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  cat "$3" >&2
  die "resolver on $1 did not answer"
}

# --- testbed -----------------------------------------------------------
TB="$DIR/testbed"
timeout -k 5 "$LIFETIME" taskset -c "$LOAD_CORE" "$BIN/anchorage-testbed" serve \
  --zones "$ZONES" --seed "$SEED" --out "$TB" --net "$NET" --port 53 --threads 1 \
  --duration "$LIFETIME" > "$DIR/testbed.log" 2>&1 &
WRAPPERS+=($!)
for _ in $(seq 300); do grep -q '^serving' "$DIR/testbed.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^serving' "$DIR/testbed.log" || { cat "$DIR/testbed.log" >&2; die "testbed did not start"; }
HOT="$TB/queries-hot.txt"
COLD="$TB/queries-cold.txt"
PROBE=$(head -1 "$HOT" | awk '{print $1}')

# --- Anchorage's validation flag ------------------------------------------
A_FLAGS=()
if [ "$VALIDATE" = 1 ]; then
  if "$BIN/anchorage" --help 2>&1 | grep -q -- '--trust-anchor'; then
    A_FLAGS=(--trust-anchor "$TB/root.anchor")
    A_VALIDATION="on (--trust-anchor testbed root.anchor)"
  else
    A_VALIDATION="OFF: this binary rejects --trust-anchor (validator not wired in yet)"
  fi
else
  A_VALIDATION="off (VALIDATE=0)"
fi
# With the RFC 5011 tracker, each start gets a fresh state directory of its own.
A_STATE=0
if "$BIN/anchorage" --help 2>&1 | grep -q -- '--state-dir'; then
  A_STATE=1
  A_VALIDATION="$A_VALIDATION, RFC 5011 state in a fresh --state-dir per start"
fi
[ -z "$ANCHORAGE_OPTS" ] || A_VALIDATION="$A_VALIDATION, extra flags: $ANCHORAGE_OPTS"

# --- unbound's configuration, written before it starts --------------------
UCONF="$DIR/unbound.conf"
cat > "$UCONF" <<EOF
server:
  interface: $U_ADDR
  port: $PORT
  do-ip4: yes
  do-ip6: no
  do-udp: yes
  do-tcp: yes
  access-control: 0.0.0.0/0 refuse
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  root-hints: "$TB/root.hints"
  # The testbed has a test. TLD; unbound's built-in local zone would
  # answer its names NXDOMAIN without asking (RFC 6761 §6.2).
  local-zone: "test." nodefault
  trust-anchor-file: "$TB/root.anchor"
  module-config: "validator iterator"
  num-threads: 1
  msg-cache-size: 64m
  rrset-cache-size: 128m
  key-cache-size: 16m
  username: ""
  chroot: ""
  directory: "$DIR"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
remote-control:
  control-enable: no
EOF
unbound-checkconf "$UCONF" >/dev/null || die "unbound-checkconf rejected $UCONF"
# The same without the validator module, so no trust anchor at all: the
# like-for-like baseline while Anchorage does not validate.
NCONF="$DIR/unbound-noval.conf"
sed -e "s/^  interface: .*/  interface: $N_ADDR/" -e '/trust-anchor-file/d' \
  -e 's/^  module-config: .*/  module-config: "iterator"/' "$UCONF" > "$NCONF"
unbound-checkconf "$NCONF" >/dev/null || die "unbound-checkconf rejected $NCONF"

# Starts one resolver; sets R_WRAPPER (its timeout) and R_PID (itself).
start_resolver() { # which log
  if [ "$1" = anchorage ]; then
    local state=()
    if [ "$A_STATE" = 1 ]; then
      mkdir -p "${2%.log}.state"
      state=(--state-dir "${2%.log}.state")
    fi
    # shellcheck disable=SC2086  # ANCHORAGE_OPTS is a list of flags
    timeout -k 5 "$PER_RESOLVER" taskset -c "$RESOLVER_CORE" "$BIN/anchorage" \
      --listen "$A_ADDR:$PORT" --threads 1 --root-hints "$TB/root.hints" \
      --allow-loopback-upstreams --upstream-port 53 "${A_FLAGS[@]}" "${state[@]}" \
      $ANCHORAGE_OPTS 2> "$2" &
  else
    local conf="$UCONF"
    [ "$1" = unbound-noval ] && conf="$NCONF"
    timeout -k 5 "$PER_RESOLVER" taskset -c "$RESOLVER_CORE" unbound -d -c "$conf" > "$2" 2>&1 &
  fi
  R_WRAPPER=$!
  WRAPPERS+=("$R_WRAPPER")
  R_PID=$(child_of "$R_WRAPPER")
}

RESULTS="$DIR/results.tsv"
: > "$RESULTS"

# One dnsperf run against the resolver R_PID; appends one line to RESULTS.
measure() { # which run phase addr file dnsperf-limits...
  local which=$1 run=$2 phase=$3 addr=$4 file=$5; shift 5
  local out="$DIR/$which-$run-$phase.dnsperf" before after
  before=$(cpu_ticks "$R_PID")
  # shellcheck disable=SC2086  # DNSPERF_OPTS is a list of flags
  load -s "$addr" -p "$PORT" -d "$file" "$@" -v $DNSPERF_OPTS > "$out" 2>&1 \
    || { tail -5 "$out" >&2; die "dnsperf failed ($which $phase)"; }
  after=$(cpu_ticks "$R_PID")
  python3 - "$out" "$which" "$run" "$phase" "$((after - before))" "$(getconf CLK_TCK)" \
    "$(peak_rss_kib "$R_PID")" >> "$RESULTS" <<'PY'
import re, sys
path, which, run, phase, ticks, hz, rss = sys.argv[1:8]
lat, stats = [], {}
with open(path) as f:
    for line in f:
        if line.startswith("> "):
            parts = line.split()
            if len(parts) == 5 and parts[1] != "T":
                try:
                    lat.append(float(parts[4]))
                except ValueError:
                    pass
        elif ":" in line:
            k, _, v = line.strip().partition(":")
            stats[k.strip()] = v.strip()
completed = int(stats["Queries completed"].split()[0])
lost = int(stats["Queries lost"].split()[0])
codes = dict(re.findall(r"([A-Z]+) (\d+) \(", stats.get("Response codes", "")))
qps = float(stats["Queries per second"])
avg_ms = float(stats["Average Latency (s)"].split()[0]) * 1000
lat.sort()
p99_ms = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000 if lat else float("nan")
cpu_us = int(ticks) * 1e6 / int(hz)
per_answer = cpu_us / completed if completed else float("nan")
print("\t".join(map(str, [which, run, phase, f"{qps:.0f}", f"{avg_ms:.3f}", f"{p99_ms:.3f}",
                           lost, codes.get("SERVFAIL", "0"), completed, f"{per_answer:.2f}",
                           f"{int(rss) / 1024:.1f}"])))
PY
  [ "$KEEP" = 1 ] || rm -f "$out"
  tail -1 "$RESULTS" | awk -F'\t' '{ printf "  %-9s run %s %-4s %8s q/s  avg %7s ms  p99 %8s ms  lost %5s  SERVFAIL %5s  answers %8s  CPU %7s us/answer  RSS %6s MiB\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }' >&2
}

one_resolver() { # which run
  local which=$1 run=$2 addr log
  case $which in
    anchorage) addr=$A_ADDR ;;
    unbound) addr=$U_ADDR ;;
    unbound-noval) addr=$N_ADDR ;;
    *) die "unknown contender $which" ;;
  esac
  log="$DIR/$which-$run-hot.log"
  start_resolver "$which" "$log"
  wait_answering "$addr" "$PROBE" "$log"
  # Warm: every hot name twice, so the timed run sees only cache hits.
  load -s "$addr" -p "$PORT" -d "$HOT" -n 2 -l 30 > /dev/null 2>&1
  measure "$which" "$run" hot "$addr" "$HOT" -l "$HOT_SECS"
  stop_wrapper "$R_WRAPPER"

  log="$DIR/$which-$run-cold.log"
  start_resolver "$which" "$log"
  wait_answering "$addr" "$PROBE" "$log"
  measure "$which" "$run" cold "$addr" "$COLD" -n 1 -l "$COLD_SECS"
  stop_wrapper "$R_WRAPPER"
}

if [ "$STEER_LO" = 1 ]; then
  RPS_BEFORE=$(cat "$RPS_FILE") || die "cannot read $RPS_FILE"
  printf '%x' $((1 << LOAD_CORE)) > "$RPS_FILE" || die "cannot write $RPS_FILE"
  STEERING="loopback receive steered to core $LOAD_CORE (rps_cpus $(cat "$RPS_FILE"), was $RPS_BEFORE)"
else
  STEERING="loopback receive on the sending core (default)"
fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "testbed: $ZONES zones on 127.$NET.x.y:53; $(wc -l < "$HOT") hot names, $(wc -l < "$COLD") cold names" >&2
for run in $(seq 1 "$RUNS"); do
  echo "run $run/$RUNS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  for which in "${CONTENDERS[@]}"; do one_resolver "$which" "$run"; done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$RESULTS" "$RUNS" "${CONTENDERS[@]}" <<PY
import math, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
runs, contenders = int(sys.argv[2]), sys.argv[3:]
cols = ["qps", "avg_ms", "p99_ms", "lost", "servfail", "answers", "cpu_us", "rss_mib"]
data = {}
for r in rows:
    data[(r[0], int(r[1]), r[2])] = dict(zip(cols, map(float, r[3:])))
def series(which, phase, col):
    return [data[(which, i, phase)][col] for i in range(1, runs + 1) if (which, i, phase) in data]
def fmt(xs, digits):
    if not xs:
        return "-"
    m = statistics.median(xs)
    return f"{m:.{digits}f} [{min(xs):.{digits}f}..{max(xs):.{digits}f}]"
print()
print("Anchorage vs unbound on the loopback testbed: $ZONES zones, resolver on core $RESOLVER_CORE "
      "(one worker thread), dnsperf and testbed on core $LOAD_CORE")
print("hot: $HOT_SECS s of the 100-name hot file after a warm-up; cold: a fresh resolver, "
      "each name of the cold file once (at most $COLD_SECS s)")
print("Anchorage validation: $A_VALIDATION; unbound validation: on (testbed trust-anchor-file)"
      + ("; unbound-noval: module-config iterator, no validator" if "unbound-noval" in contenders else ""))
print("$STEERING")
print(f"{runs} runs each, interleaved ({' '.join(contenders)}) x {runs}; median [min..max] over runs")
print()
head = ["resolver", "phase", "queries/s", "avg ms", "p99 ms", "lost", "SERVFAIL", "CPU us/answer", "peak RSS MiB"]
spec = [("qps", 0), ("avg_ms", 3), ("p99_ms", 2), ("lost", 0), ("servfail", 0), ("cpu_us", 2), ("rss_mib", 1)]
table = [head]
for which in contenders:
    for phase in ("hot", "cold"):
        table.append([which, phase] + [fmt(series(which, phase, c), d) for c, d in spec])
widths = [max(len(row[i]) for row in table) for i in range(len(head))]
for row in table:
    print("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
print()
def ratio(phase, col, label, base):
    a, u = series("anchorage", phase, col), series(base, phase, col)
    xs = [x / y for x, y in zip(a, u) if y]
    print(f"  {label:34} {fmt(xs, 2)}")
for base in [c for c in contenders if c != "anchorage"]:
    print(f"Anchorage/{base}, per interleaved run pair (below 1: Anchorage better):")
    ratio("hot", "cpu_us", "hot CPU per query", base)
    ratio("cold", "cpu_us", "cold CPU per name", base)
    ratio("cold", "p99_ms", "cold p99 latency", base)
print()
hot_fail = [w for w in contenders if any(x > 0 for x in series(w, "hot", "servfail"))]
if hot_fail:
    print(f"WARNING: SERVFAILs in the hot runs of {', '.join(hot_fail)}: every hot name is secure, "
          "so validation is failing (wrong trust anchor?) and the figures measure failures")
print("load average (1, 5, 15 min): before $LOAD_BEFORE, after $LOAD_AFTER; $(nproc) cores")
print("hot:  taskset -c $LOAD_CORE dnsperf -s ADDR -p $PORT -d queries-hot.txt -l $HOT_SECS -v $DNSPERF_OPTS"
      " (after -n 2 -l 30 to warm)")
print("cold: taskset -c $LOAD_CORE dnsperf -s ADDR -p $PORT -d queries-cold.txt -n 1 -l $COLD_SECS -v $DNSPERF_OPTS"
      " (fresh resolver)")
PY
