#!/usr/bin/env bash
# Whole-process benchmark (issues 6 and 17): tcpstate against the floor
# (examples/floor.rs: mmap + pcap-parser + etherparse + a hash map of flows, one
# thread), cat, tcptrace and tshark on one large realistic synthetic capture. The
# commands run in alternation, round after round, so a shared machine's load
# falls on all of them alike; compare the ratios. Then tcpstate's memory on two
# hostile inputs.
#
#   benches/compare.sh            # the issue's shape: 200 k connections, ~9.2 M
#                                 # packets, ~1.08 GB pcap (tshark alone ~100 s+)
#   benches/compare.sh --quick    # 20 k connections, ~110 MB, smaller memory cases
#
# Environment (all optional):
#   BENCH_DIR=DIR     keep the captures in DIR and reuse them on the next run when
#                     the generator's parameters are the same (default: a
#                     temporary directory, removed at exit)
#   CONNECTIONS=N     connections in the capture (default 200000; --quick 20000)
#   SEED=S            generator seed (default 1)
#   RUNS=N            rounds, i.e. runs per command (default 5; --quick 3)
#   SKIP_TSHARK=1     leave tshark out (it takes about 100 s per GB)
#   TSHARK_RUNS=N     runs of tshark (default 1)
#   SKIP_TCPTRACE=1   leave tcptrace out
#   SKIP_MEMORY=1     leave the memory section out
#   SYNS=N            SYN flood size of the memory section (default 1000000; --quick 100000)
#   SEGMENTS=N        segments of the one long connection (default 10000000; --quick 1000000)
#   CHRT=1            run every timed command under `chrt -f 50` (real-time
#                     priority, needs root): on a machine shared with builds
#                     the figures then hold still (the other jobs wait)
#
# Every tcpstate run is the full job (both machines, sequence analysis, Zeek's
# view) with its report written to /dev/null: `--format json` unless the row
# says csv. GNU time wraps each run: wall time, CPU (user + sys) and peak RSS;
# the table has medians (RSS: the largest). The load average before and after
# is printed: on a shared machine, rerun when it is high.
# Needs python3, gzip, GNU time (installed with apt-get when absent), and
# tcptrace / tshark for their rows.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $arg (only --quick)" >&2; exit 2 ;;
  esac
done
if [ -n "$quick" ]; then
  connections=${CONNECTIONS:-20000}
  runs=${RUNS:-3}
  syns=${SYNS:-100000}
  segments=${SEGMENTS:-1000000}
else
  connections=${CONNECTIONS:-200000}
  runs=${RUNS:-5}
  syns=${SYNS:-1000000}
  segments=${SEGMENTS:-10000000}
fi
seed=${SEED:-1}
tshark_runs=${TSHARK_RUNS:-1}

need() { command -v "$1" >/dev/null 2>&1 || { echo "compare.sh: $1 not found ($2)" >&2; exit 1; }; }
need python3 "apt-get install -y python3"
need gzip "apt-get install -y gzip"
if [ ! -x /usr/bin/time ]; then
  echo "GNU time not found: installing it (apt-get install -y time)" >&2
  apt-get install -y -qq time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
fi
if [ -z "${SKIP_TCPTRACE:-}" ] && ! command -v tcptrace >/dev/null 2>&1; then
  echo "compare.sh: tcptrace not found, its row is skipped (apt-get install -y tcptrace)" >&2
  SKIP_TCPTRACE=1
fi
if [ -z "${SKIP_TSHARK:-}" ] && ! command -v tshark >/dev/null 2>&1; then
  echo "compare.sh: tshark not found, its row is skipped (apt-get install -y tshark)" >&2
  SKIP_TSHARK=1
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --quiet
cargo build --release --quiet --example gen_bench_capture --example gen_resource_captures --example floor
bin=$CARGO_TARGET_DIR/release/tcpstate
gen=$CARGO_TARGET_DIR/release/examples/gen_bench_capture
resgen=$CARGO_TARGET_DIR/release/examples/gen_resource_captures
floor=$CARGO_TARGET_DIR/release/examples/floor

if [ -n "${BENCH_DIR:-}" ]; then
  dir=$BENCH_DIR
  mkdir -p "$dir"
else
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
fi
dir=$(cd "$dir" && pwd)
res=$dir/results
rm -rf "$res"
mkdir -p "$res"

# --- the capture: pcap, pcapng (same packets: same seed) and a gzip copy -----
pcap=$dir/bench.pcap
pcapng=$dir/bench.pcapng
gz=$dir/bench.pcap.gz
meta=$dir/bench.meta
want="connections=$connections seed=$seed generator=$(sha256sum examples/gen_bench_capture.rs examples/bench_traffic/mod.rs | sha256sum | cut -c1-16)"
if [ -f "$meta" ] && [ "$(head -1 "$meta")" = "$want" ] && [ -s "$pcap" ] && [ -s "$pcapng" ] && [ -s "$gz" ]; then
  echo "reusing the captures in $dir"
else
  rm -f "$meta" "$pcap" "$pcapng" "$gz"
  echo "generating $connections connections (seed $seed) into $dir"
  "$gen" "$pcap" --connections "$connections" --seed "$seed" 2>"$res/gen.txt"
  cat "$res/gen.txt" >&2
  "$gen" "$pcapng" --connections "$connections" --seed "$seed" --format pcapng 2>/dev/null
  if command -v pigz >/dev/null 2>&1; then pigz -c "$pcap" >"$gz"; else gzip -c "$pcap" >"$gz"; fi
  packets=$(sed -n 's/.* connections, \([0-9]*\) packets,.*/\1/p' "$res/gen.txt" | head -1)
  { echo "$want"; echo "packets=$packets"; } >"$meta"
fi
packets=$(sed -n 's/^packets=//p' "$meta")
ls -l "$pcap" "$pcapng" "$gz"

# Into the page cache (the machine needs the RAM for it; every run reads it).
cat "$pcap" "$pcapng" "$gz" >/dev/null

# --- timings -----------------------------------------------------------------
json="--format json"
cmds=(
  "floor" "$floor $pcap"
  "cat" "cat $pcap"
  "tcpstate csv, 2 threads" "RAYON_NUM_THREADS=2 $bin --format csv $pcap"
  "tcpstate csv, 1 core" "taskset -c 0 $bin --format csv $pcap"
  "tcpstate, 1 thread" "RAYON_NUM_THREADS=1 $bin $json $pcap"
  "tcpstate, 2 threads" "RAYON_NUM_THREADS=2 $bin $json $pcap"
  "tcpstate, stdin" "RAYON_NUM_THREADS=2 $bin $json - < $pcap"
  "tcpstate, pcapng" "RAYON_NUM_THREADS=2 $bin $json $pcapng"
  "tcpstate, pcap.gz" "RAYON_NUM_THREADS=2 $bin $json $gz"
  "tcpstate zeek" "$bin --format zeek $pcap"
  "tcpstate table" "$bin $pcap"
  "tcpstate check" "$bin check $pcap"
)
if [ -z "${SKIP_TCPTRACE:-}" ]; then
  cmds+=("tcptrace -n" "tcptrace -n $pcap")
fi
if [ -z "${SKIP_TSHARK:-}" ]; then
  cmds+=("tshark -q -z conv,tcp" "tshark -n -q -z conv,tcp -r $pcap")
fi

# --- the table: alternating rounds --------------------------------------------
python3 - "$res" "$(stat -c %s "$pcap")" "$packets" "$connections" "$runs" "$tshark_runs" "${cmds[@]}" <<'PY'
import os, re, statistics, subprocess, sys, time

res, size, packets, connections, runs, tshark_runs = sys.argv[1:7]
size, packets, connections = int(size), int(packets), int(connections)
runs, tshark_runs = int(runs), int(tshark_runs)
args = sys.argv[7:]
cmds = list(zip(args[0::2], args[1::2]))

def once(cmd):
    out = os.path.join(res, "time.txt")
    t0 = time.monotonic()
    prefix = ["chrt", "-f", "50"] if os.environ.get("CHRT") else []
    subprocess.run(prefix + ["/usr/bin/time", "-v", "-o", out, "bash", "-c", cmd + " > /dev/null 2>&1"],
                   check=False)
    wall = time.monotonic() - t0
    text = open(out).read()
    cpu = sum(float(re.search(label + r"\(seconds\): ([\d.]+)", text).group(1))
              for label in ("User time ", "System time "))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
    return wall, cpu, rss

def load():
    return open("/proc/loadavg").read().split()[0]

print(f"load average before: {load()}", flush=True)
for name, cmd in cmds:  # warm-up (and the page cache)
    if not name.startswith("tshark"):
        once(cmd)
got = {name: [] for name, _ in cmds}
for r in range(runs):
    for name, cmd in cmds:
        if name.startswith("tshark") and r >= tshark_runs:
            continue
        got[name].append(once(cmd))
print(f"load average after: {load()}")

med = {n: statistics.median(x[0] for x in v) for n, v in got.items() if v}
cpu = {n: statistics.median(x[1] for x in v) for n, v in got.items() if v}
rss = {n: max(x[2] for x in v) for n, v in got.items() if v}

def times(base, n):
    if base not in med or n == base:
        return "-"
    return f"{med[n] / med[base]:.2f}x"

def faster(n, other):
    if other not in med or n == other:
        return "-"
    x = med[other] / med[n]
    return f"{x:.2f}x" if x < 1 else f"{x:.1f}x"

print()
print(f"capture: {size / 1e9:.2f} GB pcap, {packets / 1e6:.2f} M packets, {connections} connections, "
      f"{(size - 24 - 16 * packets) / packets:.1f} B average frame; medians of {runs} alternating rounds "
      f"(tshark: {tshark_runs}); 'vs floor': wall time as a multiple of the floor's; "
      "'faster than': how many times faster than tcptrace / tshark")
print()
print("| command | median wall s | CPU s | busy cores | MB/s | Mpackets/s | peak RSS MB | vs floor | faster than tcptrace | faster than tshark |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for n, _ in cmds:
    if n not in med:
        continue
    m = med[n]
    print(f"| {n} | {m:.3f} | {cpu[n]:.2f} | {cpu[n] / m:.2f} | {size / 1e6 / m:.0f} | {packets / 1e6 / m:.2f} | {rss[n]:.0f} | "
          f"{times('floor', n)} | {faster(n, 'tcptrace -n')} | {faster(n, 'tshark -q -z conv,tcp')} |")
print()
if "tcpstate, 1 thread" in med and "tcpstate, 2 threads" in med:
    print(f"2 threads / 1 thread speedup: {med['tcpstate, 1 thread'] / med['tcpstate, 2 threads']:.2f}x")
if "tcpstate csv, 1 core" in med and "tcpstate csv, 2 threads" in med:
    # RAYON_NUM_THREADS=1 still reads and writes on threads of their own;
    # a process held to one core is the true single-core figure.
    print(f"2 cores / 1 core speedup (csv): {med['tcpstate csv, 1 core'] / med['tcpstate csv, 2 threads']:.2f}x")
for n, what in (("tcpstate, pcapng", "pcapng / pcap"), ("tcpstate, stdin", "stdin / mapped file")):
    if n in med and "tcpstate, 2 threads" in med:
        print(f"{what} wall-time ratio (2 threads): {med[n] / med['tcpstate, 2 threads']:.2f}")
PY

# --- memory: a SYN flood and one very long connection ------------------------
if [ -n "${SKIP_MEMORY:-}" ]; then
  exit 0
fi
echo
echo "memory: tcpstate --format json on hostile inputs (examples/gen_resource_captures.rs)"
echo
echo "| case | input MB | frames | connections | wall s | peak RSS MB | eviction counters |"
echo "|---|---:|---:|---:|---:|---:|---|"
# mem NAME FILE: one measured run, one table row.
mem() {
  local name=$1 input=$2 rc=0
  /usr/bin/time -v -o "$res/mem.time" "$bin" --format json "$input" >"$res/mem.jsonl" 2>"$res/mem.err" || rc=$?
  python3 - "$name" "$input" "$res/mem.time" "$res/mem.jsonl" "$rc" <<'EOF'
import json, os, re, sys

name, path, time_file, out, rc = sys.argv[1:]
text = open(time_file).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
wall = 0.0
for part in clock.split(":"):
    wall = wall * 60 + float(part)
try:
    with open(out, "rb") as f:
        f.seek(max(0, os.path.getsize(out) - 65536))
        s = json.loads(f.read().decode(errors="replace").strip().splitlines()[-1])["summary"]
    frames, conns = s.get("frames", "?"), s.get("connections", "?")
    evict = {}
    def walk(obj, prefix):
        # Any key containing "evict", at any depth; the per-file copies under
        # "files" repeat the totals and are left out.
        for k, v in obj.items():
            if "evict" in k:
                evict[prefix + k] = v
            elif isinstance(v, dict) and k != "files":
                walk(v, prefix + k + ".")
    walk(s, "")
    evictions = ", ".join(f"{k}={v}" for k, v in sorted(evict.items())) or "none in the summary"
except Exception as e:  # a failed run still gets its row
    frames = conns = "?"
    evictions = f"(no summary: {e.__class__.__name__})"
if rc != "0":
    evictions += f" (exit {rc})"
print(f"| {name} | {os.path.getsize(path) / 1e6:.0f} | {frames} | {conns} | {wall:.2f} | {rss:.0f} | {evictions} |")
EOF
}
"$resgen" synflood "$dir/synflood.pcap" "$syns" 2>/dev/null
mem "synflood $syns SYNs" "$dir/synflood.pcap"
rm -f "$dir/synflood.pcap"
"$resgen" longconn "$dir/longconn.pcap" "$segments" 2>/dev/null
mem "longconn $segments segments" "$dir/longconn.pcap"
rm -f "$dir/longconn.pcap"
