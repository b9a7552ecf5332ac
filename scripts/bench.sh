#!/usr/bin/env bash
# Whole-process benchmark: tcpstate against tshark and tcptrace on the same
# synthetic capture, in the same session (absolute times drift on shared
# machines; compare ratios). Needs: hyperfine, tshark, tcptrace, GNU time
#   apt-get install -y hyperfine tshark tcptrace time
# Usage: scripts/bench.sh [CONNECTIONS]   (default 100000, about 1.1 M packets)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cargo build --release --quiet --example gen_bench_capture
cargo build --release --quiet
./target/release/examples/gen_bench_capture "$dir/bench.pcap" "$n"
./target/release/examples/gen_bench_capture "$dir/bench.pcapng" "$n" pcapng
ls -l "$dir"
cat "$dir/bench.pcap" > /dev/null   # into the page cache

bin=./target/release/tcpstate
hyperfine --warmup 1 --runs 5 --export-markdown "$dir/results.md" \
  -n "cat" "cat $dir/bench.pcap > /dev/null" \
  -n "tcpstate pcap" "$bin --format csv $dir/bench.pcap > /dev/null" \
  -n "tcpstate pcapng" "$bin --format csv $dir/bench.pcapng > /dev/null" \
  -n "tcpstate stdin" "$bin --format csv - < $dir/bench.pcap > /dev/null" \
  -n "RAYON_NUM_THREADS=1 tcpstate" "RAYON_NUM_THREADS=1 $bin --format csv $dir/bench.pcap > /dev/null" \
  -n "tcptrace -n" "tcptrace -n $dir/bench.pcap > /dev/null" \
  -n "tshark conv,tcp" "tshark -q -z conv,tcp -r $dir/bench.pcap > /dev/null 2>&1"
cat "$dir/results.md"

echo
echo "peak RSS (kB):"
for cmd in "$bin --format csv $dir/bench.pcap" "$bin --format csv -" "tcptrace -n $dir/bench.pcap" "tshark -q -z conv,tcp -r $dir/bench.pcap"; do
  rss=$( { /usr/bin/time -v sh -c "$cmd < $dir/bench.pcap > /dev/null 2>/dev/null"; } 2>&1 | awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}')
  echo "  $rss  $cmd"
done
