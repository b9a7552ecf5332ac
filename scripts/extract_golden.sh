#!/usr/bin/env bash
# Regenerate tests/golden/extract/ (see its README.md): for each (capture, stream)
# below, tshark's own selection `-Y 'tcp.stream eq N'` (frame times, lengths,
# bytes) and what tshark shows of `tcpstate extract --annotate --stream N`'s
# output (frame times and frame.comment), both compared by cli/tests/extract.rs.
# Usage: scripts/extract_golden.sh   (from anywhere inside the repo; needs tshark
# and python3, and builds tcpstate)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tshark >/dev/null || { echo "tshark not found (apt-get install -y tshark)" >&2; exit 1; }
out=tests/golden/extract
mkdir -p "$out"
cfg=$(mktemp -d)
trap 'rm -rf "$cfg"' EXIT
cargo build -q -p tcpstate-cli
bin=target/debug/tcpstate

CASES="testdata/real/several_conns.pcapng:0
testdata/real/several_conns.pcapng:3
testdata/real/out_of_window.pcap:0
testdata/real/injected_rst.pcap:1
testdata/real/normal_close_client.pcap.gz:0
testdata/synth/multi_if.pcapng:1
testdata/synth/multi_if.pcapng:3
testdata/synth/multi_if_be.pcapng:1"

for case in $CASES; do
    f=${case%:*}
    n=${case##*:}
    name="$(basename "$f").s$n"
    # tshark's selection: frame.number, time_epoch, cap_len, len, bytes (hex).
    HOME="$cfg" XDG_CONFIG_HOME="$cfg" LC_ALL=C.UTF-8 \
        tshark -r "$f" -Y "tcp.stream eq $n" -T json -x 2>/dev/null |
        python3 -c '
import json, sys
for p in json.load(sys.stdin):
    l = p["_source"]["layers"]
    fr = l["frame"]
    print("\t".join([fr["frame.number"], fr["frame.time_epoch"], fr["frame.cap_len"], fr["frame.len"], l["frame_raw"][0]]))
' >"$out/$name.tshark.tsv"
    # What tshark shows of the annotated extract.
    tmp="$cfg/$name.pcapng"
    "$bin" extract --annotate --stream "$n" "$f" -w "$tmp" 2>/dev/null
    HOME="$cfg" XDG_CONFIG_HOME="$cfg" LC_ALL=C.UTF-8 \
        tshark -r "$tmp" -T fields -E separator=/t -e frame.number -e frame.time_epoch -e frame.comment \
        2>/dev/null >"$out/$name.comments.tsv"
    printf '%-50s %3d frames\n' "$name" "$(wc -l <"$out/$name.tshark.tsv")"
done
