#!/usr/bin/env bash
# Kept for old habits: the whole-process benchmark (tcpstate against cat,
# tcptrace and tshark, then memory on hostile inputs) is benches/compare.sh;
# see its header for the environment variables it reads.
# Usage: scripts/bench.sh [CONNECTIONS] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  export CONNECTIONS=$1
  shift
fi
exec benches/compare.sh "$@"
