#!/usr/bin/env python3
"""Records one workload at two vantage points for `tcpstate diff` (issue 18).

Three network namespaces in a line: d18c (client, 10.201.1.1), d18r (router,
10.201.1.254 / 10.201.2.254) and d18s (server, 10.201.2.1), joined by the veth
pairs d18c0-d18r0 and d18r1-d18s0 (fixed MACs, static neighbours, offloads
off). tcpdump runs on d18c0 in the client namespace (capture A, the client
side) and on d18s0 in the server namespace (capture B, the server side). The
router forwards with:

* `-m statistic --mode random --probability P -j DROP` in FORWARD, one rule
  per direction, so a known share is lost between the points;
* SNAT of the client to 10.201.2.254 with random ports (`--random-fully`);
* TCPMSS clamping of SYNs to 1200;
* DSCP 10 set on everything client->server, and SACK-permitted stripped from
  the client's SYN (TCPOPTSTRIP).

The ground truth is saved next to the captures as NAME.truth.txt: the
FORWARD drop rules' packet counters (`iptables -L FORWARD -v -x`), the NAT
rule's counters and the router's conntrack table (the NAT mapping), when the
kernel exposes /proc/net/nf_conntrack. Only namespace addresses are used.

    sudo python3 scripts/record_two_points.py [--name two_points] [--loss 0.08]

The namespace plumbing (`sh`, `ns`, `InNs`, `in_thread`, `result`) is
scripts/record_corners.py's.
"""

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from record_corners import InNs, in_thread, ns, result, sh  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "real")
CNS, RNS, SNS = "d18c", "d18r", "d18s"
CIP, SIP = "10.201.1.1", "10.201.2.1"
RCIP, RSIP = "10.201.1.254", "10.201.2.254"
PORT = 8018
MSS = 1200
DSCP = 10


def setup():
    teardown()
    for n in (CNS, RNS, SNS):
        sh("ip", "netns", "add", n)
        ns(n, "ip", "link", "set", "lo", "up")
    links = (("d18c0", CNS, CIP, "02:00:00:18:01:01", "d18r0", RNS, RCIP, "02:00:00:18:01:fe"),
             ("d18s0", SNS, SIP, "02:00:00:18:02:01", "d18r1", RNS, RSIP, "02:00:00:18:02:fe"))
    for a, an, aip, amac, b, bn, bip, bmac in links:
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        for iface, n, ip, mac in ((a, an, aip, amac), (b, bn, bip, bmac)):
            sh("ip", "link", "set", iface, "netns", n)
            ns(n, "ip", "link", "set", iface, "address", mac)
            ns(n, "ip", "addr", "add", ip + "/24", "dev", iface)
            ns(n, "ip", "link", "set", iface, "up")
            ns(n, "ethtool", "-K", iface, "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off",
               check=False)
        ns(an, "ip", "neigh", "add", bip, "lladdr", bmac, "dev", a, "nud", "permanent")
        ns(bn, "ip", "neigh", "add", aip, "lladdr", amac, "dev", b, "nud", "permanent")
    ns(CNS, "ip", "route", "add", "default", "via", RCIP)
    ns(SNS, "ip", "route", "add", "default", "via", RSIP)
    ns(RNS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    time.sleep(0.5)


def teardown():
    for n in (CNS, RNS, SNS):
        sh("ip", "netns", "del", n, check=False)


def router_rules(loss):
    ipt = lambda *r: ns(RNS, "iptables", *r)  # noqa: E731
    ipt("-A", "FORWARD", "-i", "d18r0", "-p", "tcp", "-m", "statistic", "--mode", "random",
        "--probability", str(loss), "-j", "DROP")
    ipt("-A", "FORWARD", "-i", "d18r1", "-p", "tcp", "-m", "statistic", "--mode", "random",
        "--probability", str(loss), "-j", "DROP")
    ipt("-t", "mangle", "-A", "FORWARD", "-p", "tcp", "--tcp-flags", "SYN,RST", "SYN",
        "-j", "TCPMSS", "--set-mss", str(MSS))
    ipt("-t", "mangle", "-A", "FORWARD", "-i", "d18r0", "-p", "tcp", "-j", "DSCP", "--set-dscp", str(DSCP))
    ipt("-t", "mangle", "-A", "FORWARD", "-i", "d18r0", "-p", "tcp", "--tcp-flags", "SYN", "SYN",
        "-j", "TCPOPTSTRIP", "--strip-options", "sack-permitted")
    ipt("-t", "nat", "-A", "POSTROUTING", "-o", "d18r1", "-s", "10.201.1.0/24", "-p", "tcp",
        "-j", "SNAT", "--to-source", RSIP + ":20000-60000", "--random-fully")


class Capture:
    """tcpdump on one interface inside a namespace, 128-byte snaplen."""

    def __init__(self, nsname, iface, path):
        self.cmd = ["ip", "netns", "exec", nsname, "tcpdump", "-i", iface, "-s", "128", "-U",
                    "--immediate-mode", "-n", "-w", path, "tcp port %d" % PORT]

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while "listening on" not in (self.proc.stderr.readline() or "listening on"):
            pass
        self.err = []
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()

    def stop(self):
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        return [line.strip() for line in self.err if "packets" in line]


def server(n_conns, messages):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((SIP, PORT))
    srv.listen(8)
    srv.settimeout(60)
    for _ in range(n_conns):
        c, _ = srv.accept()
        c.settimeout(60)
        for _ in range(messages):
            data = b""
            while len(data) < 100:
                chunk = c.recv(100 - len(data))
                if not chunk:
                    break
                data += chunk
            c.sendall(data[::-1])
        c.close()
    srv.close()


def client(n_conns, messages):
    for i in range(n_conns):
        s = socket.create_connection((SIP, PORT), timeout=60)
        for m in range(messages):
            s.sendall(bytes([(i * 31 + m + k) % 251 for k in range(100)]))
            got = b""
            while len(got) < 100:
                got += s.recv(100 - len(got))
            time.sleep(0.01)
        s.close()
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="two_points")
    ap.add_argument("--loss", type=float, default=0.08)
    ap.add_argument("--conns", type=int, default=3)
    ap.add_argument("--messages", type=int, default=25)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (namespaces, tcpdump, iptables)")
    random.seed(18)
    setup()
    try:
        router_rules(args.loss)
        a_path = os.path.join(OUT, args.name + "_a.pcap")
        b_path = os.path.join(OUT, args.name + "_b.pcap")
        caps = [Capture(CNS, "d18c0", a_path), Capture(SNS, "d18s0", b_path)]
        for c in caps:
            c.start()
        time.sleep(0.3)
        ts, sbox = in_thread(SNS, server, args.conns, args.messages)
        time.sleep(0.3)
        tc, cbox = in_thread(CNS, client, args.conns, args.messages)
        result(tc, cbox, timeout=120)
        result(ts, sbox, timeout=120)
        time.sleep(1.5)
        stats = [c.stop() for c in caps]
        truth = ["# router %s: FORWARD drop rules (pkts = segments dropped), then NAT, MSS, DSCP and option rules" % RNS,
                 "# loss probability %s per direction; A = client side (d18c0), B = server side (d18s0)"
                 % args.loss,
                 ns(RNS, "iptables", "-L", "FORWARD", "-v", "-x", "-n").stdout.rstrip(),
                 ns(RNS, "iptables", "-t", "nat", "-L", "POSTROUTING", "-v", "-x", "-n").stdout.rstrip(),
                 ns(RNS, "iptables", "-t", "mangle", "-L", "FORWARD", "-v", "-x", "-n").stdout.rstrip(),
                 "# conntrack (NAT mapping)"]
        conntrack = ns(RNS, "cat", "/proc/net/nf_conntrack", check=False)
        truth.append(conntrack.stdout.rstrip() if conntrack.returncode == 0 else
                     "(no /proc/net/nf_conntrack on this kernel: the NAT rule's counters above)")
        truth.append("# tcpdump A: %s" % "; ".join(stats[0]))
        truth.append("# tcpdump B: %s" % "; ".join(stats[1]))
        with open(os.path.join(OUT, args.name + ".truth.txt"), "w") as f:
            f.write("\n".join(truth) + "\n")
        print("\n".join(truth))
    finally:
        teardown()


if __name__ == "__main__":
    main()
