#!/usr/bin/env bash
# Installs the Debian packages the testbed's tests need, only when missing:
# ldnsutils (ldns-verify-zone, ldns-signzone), dnsperf (load), unbound (independent
# validating resolver), dnsutils (dig), openssl (test key fixtures). Never
# starts a service: policy-rc.d exiting 101 forbids it; tests start their
# own unbound with a loopback-only configuration.
set -euo pipefail

need=()
command -v ldns-verify-zone >/dev/null 2>&1 || need+=(ldnsutils)
command -v unbound >/dev/null 2>&1 || need+=(unbound)
command -v dig >/dev/null 2>&1 || need+=(dnsutils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v dnsperf >/dev/null 2>&1 || need+=(dnsperf)
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: need root to install ${need[*]}" >&2
  exit 1
fi
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${need[@]}"
