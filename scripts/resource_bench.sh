#!/usr/bin/env bash
# Resource bounds: wall time and peak RSS (GNU time -v) of the release binary on
# hostile or huge inputs. Prints one table row per case, then the figures to
# compare after a change.
#
#   scripts/resource_bench.sh                    # default sizes
#   SYNS="100000 1000000 3000000" SEGMENTS=10000000 NULLS=1000000 FRAGS=1000000 scripts/resource_bench.sh
#
# Cases:
#   baseline        a 11-frame capture: the process's fixed cost
#   huge_caplen     a pcap record claiming 4 GiB (rejected before any allocation)
#   huge_caplen -   the same on stdin
#   huge_block      a pcapng block claiming 4 GiB (rejected before any allocation)
#   max_caplen      a pcap record claiming 256 MiB, the largest believed: the
#                   reader makes room for it, then finds the input ends
#   max_block       a pcapng block claiming 256 MiB + 64 KiB, likewise
#   synflood N      N SYNs to distinct ports: N connections that never complete.
#                   Memory levels off at the flow table's limit
#                   (--max-connections); the summary's eviction counters are printed.
#   longconn N      one connection of N one-byte segments: memory must not grow with N
#   fragflood N     N first fragments of 1 KiB whose datagrams never complete:
#                   the reassembler's limits (64 MiB, 64 datagrams per pair,
#                   30 s) must bound memory
#   nullflood N     one endpoint pair, N segments with no flags: N invalid_flags
#                   anomalies in one connection (the first 100 are listed, all
#                   counted: memory must not grow with N)
#
# Needs GNU time (/usr/bin/time; apt-get install -y time). Captures are written
# to a temporary directory (SEGMENTS=10000000 is about 750 MB) and removed.
set -euo pipefail
cd "$(dirname "$0")/.."
syns=${SYNS:-"100000 300000 1000000"}
segments=${SEGMENTS:-"1000000 10000000"}
nulls=${NULLS:-"1000000"}
frags=${FRAGS:-"1000000"}
[ -x /usr/bin/time ] || { echo "GNU time not found (apt-get install -y time)" >&2; exit 1; }

cargo build --release --quiet
cargo build --release --quiet --example gen_resource_captures
bin=./target/release/tcpstate
gen=./target/release/examples/gen_resource_captures
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

printf '%-24s %12s %10s %12s %6s  %s\n' case input_bytes wall_s peak_rss_kB exit summary
# run NAME INPUT [stdin]: one measured run, JSON output; prints a row.
run() {
  local name=$1 input=$2 stdin=${3:-} arg
  arg=$input
  [ -n "$stdin" ] && arg=-
  set +e
  if [ -n "$stdin" ]; then
    /usr/bin/time -v -o "$dir/time.txt" "$bin" --format json "$arg" <"$input" >"$dir/out.jsonl" 2>"$dir/err.txt"
  else
    /usr/bin/time -v -o "$dir/time.txt" "$bin" --format json "$arg" >"$dir/out.jsonl" 2>"$dir/err.txt"
  fi
  local rc=$?
  set -e
  local wall rss size summary
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; printf "%.2f", s}' "$dir/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")
  size=$(stat -c %s "$input")
  summary=$(tail -1 "$dir/out.jsonl" | python3 -c '
import json, sys
s = json.load(sys.stdin)["summary"]
keys = ["frames", "connections", "errors"] + sorted(k for k in s if "evict" in k or "frag" in k)
print(" ".join(f"{k}={s[k]}" for k in keys))' 2>/dev/null || echo "?")
  printf '%-24s %12s %10s %12s %6s  %s\n' "$name" "$size" "$wall" "$rss" "$rc" "$summary"
  if [ "$rc" -ne 0 ] && [ -s "$dir/err.txt" ]; then
    printf '%24s %s\n' "" "$(head -c 200 "$dir/err.txt")"
  fi
}

run baseline testdata/real/normal_close_client.pcap
run huge_caplen testdata/synth/bad/huge_caplen.pcap
run "huge_caplen (stdin)" testdata/synth/bad/huge_caplen.pcap stdin
run huge_block testdata/synth/bad/pcapng_huge_block.pcapng
run max_caplen testdata/synth/bad/max_caplen.pcap
"$gen" maxblock "$dir/maxblock.pcapng"
run max_block "$dir/maxblock.pcapng"

for n in $syns; do
  "$gen" synflood "$dir/synflood.pcap" "$n"
  run "synflood $n" "$dir/synflood.pcap"
  rm -f "$dir/synflood.pcap"
done
for n in $segments; do
  "$gen" longconn "$dir/longconn.pcap" "$n"
  run "longconn $n" "$dir/longconn.pcap"
  rm -f "$dir/longconn.pcap"
done
for n in $nulls; do
  "$gen" nullflood "$dir/nullflood.pcap" "$n"
  run "nullflood $n" "$dir/nullflood.pcap"
  rm -f "$dir/nullflood.pcap"
done
for n in $frags; do
  "$gen" fragflood "$dir/fragflood.pcap" "$n"
  run "fragflood $n" "$dir/fragflood.pcap"
  rm -f "$dir/fragflood.pcap"
done
