#!/usr/bin/env bash
# A safe lab on loopback: the testbed's signed DNS hierarchy and Anchorage
# pointed at it, nothing sent off this machine. Prints dig lines to try;
# Ctrl-C stops both. The production binary carries no test code: the
# hierarchy comes from the separate anchorage-testbed binary.
#
# Usage: deploy/lab.sh [zones]   (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."
zones=${1:-50}
testbed_port=5353
resolver=127.0.0.1
resolver_port=5300

echo "building (release)..."
cargo build --release -q -p anchorage -p anchorage-testbed
bin=${CARGO_TARGET_DIR:-target}/release
dir=$(mktemp -d /tmp/anchorage-lab.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

"$bin/anchorage-testbed" serve --zones "$zones" --seed 1 --out "$dir" \
  --net 53 --port "$testbed_port" > "$dir/testbed.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/root.hints" ] && break; sleep 0.1; done
[ -s "$dir/root.hints" ] || { echo "testbed did not start:"; cat "$dir/testbed.log"; exit 1; }

"$bin/anchorage" --listen "$resolver:$resolver_port" --threads 2 \
  --root-hints "$dir/root.hints" --trust-anchor "$dir/root.anchor" --state-dir "$dir" \
  --allow-loopback-upstreams \
  --upstream-port "$testbed_port" 2> "$dir/anchorage.log" &
pids+=($!)

pick() { awk -v c="$1" '$1 == c { print $2, $3; exit }' "$dir/manifest.txt"; }
secure=$(pick secure); insecure=$(pick insecure); bogus=$(pick bogus); nx=$(pick nxdomain)
for _ in $(seq 100); do
  if dig +time=1 +tries=1 @"$resolver" -p "$resolver_port" $secure > /dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
[ "${ready:-0}" = 1 ] || { echo "anchorage did not answer:"; cat "$dir/anchorage.log"; exit 1; }

cat <<MSG
Anchorage is answering on $resolver port $resolver_port, resolving a
$zones-zone signed hierarchy served on 127.53.x.y port $testbed_port.
Try:
  dig @$resolver -p $resolver_port +dnssec $secure        # a signed name
  dig @$resolver -p $resolver_port $insecure              # an unsigned zone
  dig @$resolver -p $resolver_port +dnssec $bogus         # a broken signature
  dig @$resolver -p $resolver_port $nx                    # NXDOMAIN
Names by category: $dir/manifest.txt; logs: $dir/*.log.
Ctrl-C stops both.
MSG
wait "${pids[@]}"
