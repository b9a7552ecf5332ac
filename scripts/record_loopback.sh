#!/usr/bin/env bash
# Record the real loopback captures in testdata/real/ (needs root: tcpdump on lo/any),
# then regenerate the tshark golden data in tests/golden/tshark/.
# Extra arguments go to record_loopback.py (e.g. --only refused ipv6).
set -euo pipefail
cd "$(dirname "$0")/.."
for t in tcpdump tshark editcap capinfos ss; do
    command -v "$t" >/dev/null || { echo "$t missing: apt-get install -y tcpdump tshark iproute2" >&2; exit 1; }
done
python3 scripts/record_loopback.py "$@"
scripts/tshark_golden.sh
