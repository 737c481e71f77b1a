#!/usr/bin/env bash
# The test command: every unit, property and integration test in the
# workspace, plus the fuzz corpus replay (a plain test over fuzz/corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests use (ldns-verify-zone, unbound, dig), when missing.
bash deploy/install-test-deps.sh
cargo test --workspace --locked --no-fail-fast "$@"
# The optional AWS-LC crypto backend of verify, tested like the default.
cargo test -p anchorage-verify --features aws-lc --locked "$@"
