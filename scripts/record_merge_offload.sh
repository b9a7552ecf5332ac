#!/usr/bin/env bash
# Records the real captures of issue 16 (see testdata/README.md):
#  - testdata/real/rotated/rot.pcap, rot.pcap1 ... rot.pcap11: a loopback
#    recording (tcpdump -i lo) cut into 12 files named as `tcpdump -C` names
#    them (tcpdump's smallest -C size is 1 MB, too big for the repository,
#    so the cut is made with editcap -r by frame ranges and the pieces named
#    as tcpdump would);
#  - testdata/real/offload_netns.pcap: traffic between two network
#    namespaces made here (10.200.16.1 and 10.200.16.2 on a veth pair),
#    recorded inside the first, whose veth keeps TX checksum offload on
#    (its own segments are captured before the checksum is filled in), while
#    the second has it off (`ethtool -K ... tx off`): the pattern
#    `--verify-checksums` must recognise.
# Needs root, tcpdump, editcap, ethtool, ip, python3. Uses only 127.0.0.1
# and the namespace addresses it assigns.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=testdata/real
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; ip netns del ts16a 2>/dev/null || true; ip netns del ts16b 2>/dev/null || true; rm -rf "$TMP"' EXIT

start_tcpdump() { # NETNS-PREFIX IFACE FILE FILTER
  local ns=$1 iface=$2 file=$3 filter=$4
  $ns tcpdump -i "$iface" -U --immediate-mode -n -s 160 -w "$file" "$filter" 2>"$TMP/tcpdump.err" &
  TCPDUMP=$!
  for _ in $(seq 100); do grep -q listening "$TMP/tcpdump.err" && return; sleep 0.05; done
  echo "tcpdump did not start" >&2; exit 1
}
stop_tcpdump() { sleep 0.3; kill -INT "$TCPDUMP"; wait "$TCPDUMP" || true; chmod 644 "$1"; }

# A server that answers each connection (each on a thread of its own) whose
# 16-byte request asks for N chunks with N chunks of 100 bytes, 20 ms apart,
# then closes; the client reads to EOF and closes.
SERVER='
import socket, sys, threading, time
host, port, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port)); s.listen(8)
def serve(c):
    chunks = int(c.recv(16))
    for i in range(chunks):
        c.sendall(bytes([65 + i % 26]) * 100); time.sleep(0.02)
    c.close()
threads = []
for _ in range(conns):
    c, _ = s.accept(); t = threading.Thread(target=serve, args=(c,)); t.start(); threads.append(t)
for t in threads: t.join()
'
CLIENT='
import socket, sys, time
host, port, cport, delay, chunks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
time.sleep(delay)
c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
c.bind(("", cport)); c.connect((host, port)); c.sendall(b"%016d" % chunks)
while c.recv(4096): pass
time.sleep(0.05); c.close()
'

# --- rotated loopback recording -------------------------------------------
start_tcpdump "" lo "$TMP/whole.pcap" "tcp port 5301 and host 127.0.0.1"
python3 -c "$SERVER" 127.0.0.1 5301 2 & SRV=$!
sleep 0.2
python3 -c "$CLIENT" 127.0.0.1 5301 31301 0 40 & C1=$!
python3 -c "$CLIENT" 127.0.0.1 5301 31302 0.2 20 & C2=$!
wait $C1 $C2 $SRV
stop_tcpdump "$TMP/whole.pcap"
n=$(tcpdump -r "$TMP/whole.pcap" 2>/dev/null | wc -l)
mkdir -p "$OUT/rotated"
rm -f "$OUT"/rotated/rot.pcap*
for i in $(seq 0 11); do
  first=$(( i * n / 12 + 1 )); last=$(( (i + 1) * n / 12 ))
  name=rot.pcap; [ "$i" -gt 0 ] && name=rot.pcap$i
  editcap -F pcap -r "$TMP/whole.pcap" "$OUT/rotated/$name" "$first-$last"
done
echo "rotated: $n frames in 12 files"

# --- checksum offload between two namespaces --------------------------------
ip netns add ts16a; ip netns add ts16b
ip link add ts16a0 netns ts16a type veth peer name ts16b0 netns ts16b
ip -n ts16a addr add 10.200.16.1/24 dev ts16a0; ip -n ts16a link set ts16a0 up
ip -n ts16b addr add 10.200.16.2/24 dev ts16b0; ip -n ts16b link set ts16b0 up
ip netns exec ts16a ethtool -K ts16a0 tx on >/dev/null
ip netns exec ts16b ethtool -K ts16b0 tx off >/dev/null
start_tcpdump "ip netns exec ts16a" ts16a0 "$OUT/offload_netns.pcap" "tcp port 5401"
ip netns exec ts16b python3 -c "$SERVER" 10.200.16.2 5401 2 & SRV=$!
sleep 0.3
ip netns exec ts16a python3 -c "$CLIENT" 10.200.16.2 5401 31401 0 3
ip netns exec ts16a python3 -c "$CLIENT" 10.200.16.2 5401 31402 0.1 3
wait $SRV
stop_tcpdump "$OUT/offload_netns.pcap"
echo "offload: $(tcpdump -r "$OUT/offload_netns.pcap" 2>/dev/null | wc -l) frames"
