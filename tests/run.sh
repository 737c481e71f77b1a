#!/usr/bin/env bash
# The test command: every unit, property and integration test in the
# workspace, plus the fuzz corpus replay (a plain test over fuzz/corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests use (ldns-verify-zone, unbound, dig), when missing.
bash deploy/install-test-deps.sh
cargo test --workspace --locked --no-fail-fast "$@"
# verify's other crypto backend, ring (AWS-LC is the default), tested alike.
cargo test -p anchorage-verify --no-default-features --locked "$@"
