#!/usr/bin/env bash
# What Parquet and rollups cost (issue 19): tcpstate --format csv (the reference),
# --format json, --format parquet -o FILE and --group-by server on one large
# generated capture, in alternation round after round (a shared machine's load
# falls on all alike). GNU time wraps each run; the table has the median wall
# time, the median CPU (user + sys) and the largest peak RSS.
#
#   benches/formats.sh                 # ~300 MB pcap (about 55 k connections)
#
# Environment (all optional):
#   BYTES=SIZE     size of the capture (default 300M; gen_bench_capture --bytes)
#   RUNS=N         rounds (default 5)
#   SEED=S         generator seed (default 1)
#   BENCH_DIR=DIR  keep the capture in DIR and reuse it (default: a temporary
#                  directory, removed at exit)
set -euo pipefail
cd "$(dirname "$0")/.."

bytes=${BYTES:-300M}
runs=${RUNS:-5}
seed=${SEED:-1}
if [ -n "${BENCH_DIR:-}" ]; then
  dir=$BENCH_DIR
  mkdir -p "$dir"
else
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
fi
[ -x /usr/bin/time ] || { echo "formats.sh: GNU time (/usr/bin/time) not found" >&2; exit 1; }

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet -p tcpstate-cli
cargo build --release --quiet -p tcpstate --example gen_bench_capture
bin=$CARGO_TARGET_DIR/release/tcpstate
cap=$dir/formats_${bytes}_${seed}.pcap
if [ ! -s "$cap" ]; then
  "$CARGO_TARGET_DIR/release/examples/gen_bench_capture" "$cap" --bytes "$bytes" --seed "$seed" >&2
fi
echo "capture: $cap ($(du -h "$cap" | cut -f1), $("$bin" --format csv "$cap" | tail -n +2 | wc -l) connections)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

names=(csv json parquet group-by-server)
run() {
  case $1 in
    csv) "$bin" --format csv "$cap" > /dev/null ;;
    json) "$bin" --format json "$cap" > /dev/null ;;
    parquet) "$bin" --format parquet -o "$dir/out.parquet" "$cap" ;;
    group-by-server) "$bin" --group-by server "$cap" > /dev/null ;;
  esac
}
log=$dir/times.log
: > "$log"
for round in $(seq "$runs"); do
  for n in "${names[@]}"; do
    /usr/bin/time -f "$n %e %U %S %M" -a -o "$log" bash -c "$(declare -f run); bin='$bin' cap='$cap' dir='$dir' run $n"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
ls -l "$dir"/out*.parquet | awk '{print "parquet file: " $NF " " $5 " bytes"}'
python3 - "$log" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, wall, user, sys_, rss = line.split()
    rows.setdefault(n, []).append((float(wall), float(user) + float(sys_), int(rss)))
base = statistics.median(w for w, _, _ in rows["csv"])
base_cpu = statistics.median(c for _, c, _ in rows["csv"])
print(f"{'command':<18}{'wall (median)':>14}{'vs csv':>8}{'CPU (median)':>14}{'vs csv':>8}{'peak RSS':>12}")
for n, v in rows.items():
    wall = statistics.median(w for w, _, _ in v)
    cpu = statistics.median(c for _, c, _ in v)
    rss = max(r for _, _, r in v)
    print(f"{n:<18}{wall:>13.2f}s{wall / base:>8.2f}{cpu:>13.2f}s{cpu / base_cpu:>8.2f}{rss / 1024:>10.0f}MB")
PY
