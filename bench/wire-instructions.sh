#!/usr/bin/env bash
# Instructions per query parse, hickory-proto vs QueryView, counted by
# callgrind: repeatable on a busy machine where wall-clock times are not.
# Usage: bench/wire-instructions.sh [iterations]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
cargo build --release -q -p anchorage-wire --example parse_cost
bin=target/release/examples/parse_cost
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() { # parser query
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" "$1" "$2" "$n" >/dev/null 2>&1
  # Subtract the process's fixed cost, measured with n=0.
  valgrind --tool=callgrind --callgrind-out-file="$out/cg0" "$bin" "$1" "$2" 0 >/dev/null 2>&1
  local total base
  total=$(callgrind_annotate "$out/cg" | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
  base=$(callgrind_annotate "$out/cg0" | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
  echo $(( (total - base) / n ))
}
printf '%-6s %10s %10s %16s %8s %8s\n' query hickory anchorage anchorage-reuse ratio reuse
for q in plain edns; do
  h=$(count hickory "$q"); a=$(count anchorage "$q"); r=$(count anchorage-reuse "$q")
  printf '%-6s %10s %10s %16s %7.1fx %7.1fx\n' "$q" "$h" "$a" "$r" \
    "$(echo "$h / $a" | bc -l)" "$(echo "$h / $r" | bc -l)"
done
