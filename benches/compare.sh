#!/usr/bin/env bash
# Whole-process benchmark (issue 6): tcpstate against cat, tcptrace and tshark
# on one large realistic synthetic capture, all in the same session (absolute
# times drift on shared machines; compare the ratios), then tcpstate's memory on
# two hostile inputs.
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
#   RUNS=N            hyperfine runs per command (default 5; --quick 3)
#   SKIP_TSHARK=1     leave tshark out (it takes about 100 s per GB)
#   TSHARK_RUNS=N     runs of tshark (default 1)
#   SKIP_TCPTRACE=1   leave tcptrace out
#   SKIP_MEMORY=1     leave the memory section out
#   SYNS=N            SYN flood size of the memory section (default 1000000; --quick 100000)
#   SEGMENTS=N        segments of the one long connection (default 10000000; --quick 1000000)
#
# Every tcpstate run is the full job: `--format json`, the report to /dev/null.
# Peak RSS is GNU time's "Maximum resident set size" of each command's last
# timed run (time wraps the command inside hyperfine, so nothing runs twice).
# Needs hyperfine, python3, gzip, GNU time (installed with apt-get when absent),
# and tcptrace / tshark for their rows.
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
need hyperfine "apt-get install -y hyperfine"
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
cargo build --release --quiet --example gen_bench_capture --example gen_resource_captures
bin=$CARGO_TARGET_DIR/release/tcpstate
gen=$CARGO_TARGET_DIR/release/examples/gen_bench_capture
resgen=$CARGO_TARGET_DIR/release/examples/gen_resource_captures

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
# t NAME: GNU time in front of a command, its report in results/NAME.time
t() { echo "/usr/bin/time -v -o $res/$1.time"; }
json="--format json"
cmds=(
  -n cat "$(t cat) cat $pcap > /dev/null"
  -n "tcpstate, 1 thread" "RAYON_NUM_THREADS=1 $(t t1) $bin $json $pcap > /dev/null"
  -n "tcpstate, 2 threads" "RAYON_NUM_THREADS=2 $(t t2) $bin $json $pcap > /dev/null"
  -n "tcpstate, stdin" "RAYON_NUM_THREADS=2 $(t stdin) $bin $json - < $pcap > /dev/null"
  -n "tcpstate, pcapng" "RAYON_NUM_THREADS=2 $(t pcapng) $bin $json $pcapng > /dev/null"
  -n "tcpstate, pcap.gz" "RAYON_NUM_THREADS=2 $(t gz) $bin $json $gz > /dev/null"
)
if [ -z "${SKIP_TCPTRACE:-}" ]; then
  cmds+=(-n "tcptrace -n" "$(t tcptrace) tcptrace -n $pcap > /dev/null")
fi
hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$res/main.json" "${cmds[@]}"
if [ -z "${SKIP_TSHARK:-}" ]; then
  hyperfine --style basic --runs "$tshark_runs" --export-json "$res/tshark.json" \
    -n "tshark -q -z conv,tcp" "$(t tshark) tshark -n -q -z conv,tcp -r $pcap > /dev/null 2>&1"
fi

# --- the table -------------------------------------------------------------
python3 - "$res" "$(stat -c %s "$pcap")" "$packets" "$connections" <<'EOF'
import json, os, re, sys

res, size, packets, connections = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
files = {
    "cat": "cat", "tcpstate, 1 thread": "t1", "tcpstate, 2 threads": "t2",
    "tcpstate, stdin": "stdin", "tcpstate, pcapng": "pcapng", "tcpstate, pcap.gz": "gz",
    "tcptrace -n": "tcptrace", "tshark -q -z conv,tcp": "tshark",
}
rows = []
for name in ("main.json", "tshark.json"):
    path = os.path.join(res, name)
    if os.path.exists(path):
        rows += json.load(open(path))["results"]
median = {r["command"]: r["median"] for r in rows}

def rss_mb(command):
    try:
        text = open(os.path.join(res, files[command] + ".time")).read()
    except (KeyError, OSError):
        return None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return int(m.group(1)) / 1024 if m else None

def ratio(base, cmd):
    if base not in median or cmd == base:
        return "-"
    x = median[base] / median[cmd]
    return f"{x:.2f}x" if x < 1 else f"{x:.1f}x"

print()
print(f"capture: {size / 1e9:.2f} GB pcap, {packets / 1e6:.2f} M packets, "
      f"{connections} connections, {(size - 24 - 16 * packets) / packets:.1f} B average frame; "
      "MB/s and Mpackets/s are of this pcap's content for every row; "
      "ratio columns: how many times faster than tshark / tcptrace")
print()
print("| command | median wall s | MB/s | Mpackets/s | peak RSS MB | vs tshark | vs tcptrace |")
print("|---|---:|---:|---:|---:|---:|---:|")
for r in rows:
    cmd, med = r["command"], r["median"]
    rss = rss_mb(cmd)
    print(f"| {cmd} | {med:.3f} | {size / 1e6 / med:.0f} | {packets / 1e6 / med:.2f} | "
          f"{'-' if rss is None else f'{rss:.0f}'} | {ratio('tshark -q -z conv,tcp', cmd)} | "
          f"{ratio('tcptrace -n', cmd)} |")
print()
if "tcpstate, 1 thread" in median and "tcpstate, 2 threads" in median:
    print(f"2 threads / 1 thread speedup: "
          f"{median['tcpstate, 1 thread'] / median['tcpstate, 2 threads']:.2f}x")
if "tcpstate, pcapng" in median and "tcpstate, 2 threads" in median:
    print(f"pcapng / pcap wall-time ratio (2 threads): "
          f"{median['tcpstate, pcapng'] / median['tcpstate, 2 threads']:.2f}")
EOF

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
