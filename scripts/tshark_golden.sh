#!/usr/bin/env bash
# Regenerate tshark golden data for every capture under testdata/:
#   tests/golden/tshark/<capture-file-name>.streams.tsv (and .analysis.tsv,
#   .irtt.tsv, .seq.tsv, .cid.tsv, .ackrtt.tsv, described in tests/golden/tshark/README.md)
# produced by (exact command, also documented in tests/golden/tshark/README.md):
#   tshark -r FILE -T fields -E separator=/t -e frame.number -e tcp.stream -e tcp.len -e tcp.flags.str
# tshark runs with an empty, throw-away HOME/XDG_CONFIG_HOME so that no personal
# Wireshark preferences change the output, and with LC_ALL=C.UTF-8 (tcp.flags.str
# uses U+00B7 MIDDLE DOT for unset flags).
# A frame carrying several TCP segments (an 802.11 A-MSDU) gets comma-separated values in each
# field, one per segment, in frame order.
# Wireshark's Teredo heuristic (teredo_udp) is off by default; it is switched on for the
# captures named teredo_ports.* (Teredo away from port 3544) only, so no other output changes.
# Usage: scripts/tshark_golden.sh [CAPTURE...]   (from anywhere inside the repo; default:
#        every capture under testdata/)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tshark >/dev/null || { echo "tshark not found (apt-get install -y tshark)" >&2; exit 1; }

out=tests/golden/tshark
# The tcp.analysis flags compared with tcpstate's sequence analysis (its codes use the same words).
ANALYSIS_FLAGS="retransmission fast_retransmission spurious_retransmission out_of_order lost_segment \
ack_lost_segment duplicate_ack zero_window zero_window_probe zero_window_probe_ack window_full \
window_update keep_alive keep_alive_ack reused_ports"
mkdir -p "$out"
cfg=$(mktemp -d)
trap 'rm -rf "$cfg"' EXIT

shopt -s globstar nullglob
files=(testdata/**/*.pcap testdata/**/*.pcapng testdata/**/*.gz testdata/**/*.cap)
all=("${files[@]}")
if [ $# -gt 0 ]; then files=("$@"); fi
if [ ${#files[@]} -eq 0 ]; then
    echo "no capture found under testdata/" >&2
    exit 1
fi

# the golden file is named after the capture's base name: refuse duplicates
dups=$(for f in "${all[@]}"; do basename "$f"; done | sort | uniq -d)
if [ -n "$dups" ]; then
    echo "duplicate capture base names under testdata/: $dups" >&2
    exit 1
fi

for f in "${files[@]}"; do
    heur=()
    case "$(basename "$f")" in teredo_ports.*) heur=(--enable-heuristic teredo_udp) ;; esac
    dst="$out/$(basename "$f").streams.tsv"
    rc=0
    HOME="$cfg" XDG_CONFIG_HOME="$cfg" LC_ALL=C.UTF-8 \
        tshark "${heur[@]}" -r "$f" -T fields -E separator=/t \
            -e frame.number -e tcp.stream -e tcp.len -e tcp.flags.str \
            >"$dst.tmp" 2>"$dst.err" || rc=$?
    # tshark warns about running as root on stderr; keep only real messages
    grep -v 'Running as user "root"' "$dst.err" >&2 || true
    rm -f "$dst.err"
    if [ "$rc" -ne 0 ]; then
        if [ -s "$dst.tmp" ]; then
            echo "warning: tshark exit $rc on $f (e.g. truncated capture); keeping the frames it printed" >&2
        else
            echo "warning: tshark exit $rc on $f and no output; no golden written" >&2
            rm -f "$dst.tmp"
            continue
        fi
    fi
    mv "$dst.tmp" "$dst"
    printf '%-60s %5d frames %3d streams\n' "$dst" "$(wc -l <"$dst")" \
        "$(cut -f2 "$dst" | tr ',' '\n' | grep -v '^$' | sort -u | wc -l)"

    # Sequence analysis: one line per frame that has any tcp.analysis flag:
    # frame.number, then the flags' names (comma-separated, in this order).
    ana="$out/$(basename "$f").analysis.tsv"
    fields=""
    for flag in $ANALYSIS_FLAGS; do fields="$fields -e tcp.analysis.$flag"; done
    # shellcheck disable=SC2086
    HOME="$cfg" XDG_CONFIG_HOME="$cfg" LC_ALL=C.UTF-8 \
        tshark "${heur[@]}" -r "$f" -T fields -E separator=/t -e frame.number $fields 2>/dev/null |
        awk -F'\t' -v names="$ANALYSIS_FLAGS" '
            BEGIN { n = split(names, name, " ") }
            { out = ""; for (i = 2; i <= n + 1; i++) if ($i != "") out = out (out == "" ? "" : ",") name[i - 1];
              if (out != "") print $1 "\t" out }' >"$ana" || true

    # Sequence numbers and windows as Wireshark shows them by default (relative
    # sequence numbers, the window scaled): frame.number, tcp.seq, tcp.ack,
    # tcp.flags.ack, tcp.window_size, one line per TCP frame.
    HOME="$cfg" XDG_CONFIG_HOME="$cfg" LC_ALL=C.UTF-8 \
        tshark -r "$f" -Y tcp -T fields -E separator=/t -e frame.number -e tcp.seq \
            -e tcp.ack -e tcp.flags.ack -e tcp.window_size 2>/dev/null \
        >"$out/$(basename "$f").seq.tsv" || true

    # Handshake RTT: tcp.stream and tcp.analysis.initial_rtt, once per stream that has one.
    # Frames with several TCP segments (802.11 A-MSDUs) list their streams comma-separated
    # but only the RTTs they have, so the two cannot be paired: such frames are skipped.
    HOME="$cfg" XDG_CONFIG_HOME="$cfg" LC_ALL=C.UTF-8 \
        tshark "${heur[@]}" -r "$f" -T fields -E separator=/t -e tcp.stream -e tcp.analysis.initial_rtt 2>/dev/null |
        awk -F'\t' '$1 !~ /,/ && $2 != "" && !seen[$1]++ { print $1 "\t" $2 }' >"$out/$(basename "$f").irtt.tsv" || true

    # Community ID (seed 0, base64; Wireshark's communityid post-dissector is
    # off by default): tcp.stream and communityid, once per stream.
    HOME="$cfg" XDG_CONFIG_HOME="$cfg" LC_ALL=C.UTF-8 \
        tshark "${heur[@]}" --enable-protocol communityid -r "$f" -T fields -E separator=/t \
            -e tcp.stream -e communityid 2>/dev/null |
        awk -F'\t' '$1 != "" && $1 !~ /,/ && $2 != "" && !seen[$1]++ { print $1 "\t" $2 }' >"$out/$(basename "$f").cid.tsv" || true

    # ACK RTT: frame.number, tcp.stream, tcp.srcport, tcp.dstport and
    # tcp.analysis.ack_rtt, one line per frame that has one (several, comma-separated,
    # for a frame with several TCP segments).
    HOME="$cfg" XDG_CONFIG_HOME="$cfg" LC_ALL=C.UTF-8 \
        tshark "${heur[@]}" -r "$f" -T fields -E separator=/t -e frame.number -e tcp.stream \
            -e tcp.srcport -e tcp.dstport -e tcp.analysis.ack_rtt 2>/dev/null |
        awk -F'\t' '$5 != ""' >"$out/$(basename "$f").ackrtt.tsv" || true
done
